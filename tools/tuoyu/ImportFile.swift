import API
import ArgumentParser
import Foundation
import RPC
import SubsidyAPI
import SwiftProtobuf
import WorkforceAPI

/// One refused row of an import: its line, status, message and rule.
typealias RowFailure = (row: Int, code: String, message: String, rule: String)

/// A CSV file read for a streaming import: the header checked (required columns, no unknown
/// ones), each line made a row — or, when it cannot be, a failure (rule csv.row) that is reported
/// with the service's own.
struct ImportFile<Row> {
  var rows: [Row] = []
  var failures: [RowFailure] = []
  var original: [Int: [String]] = [:]
  var header: [String] = []

  init(
    _ file: String, encoding: TextEncoding, required: [String], known: Set<String>, command: String,
    row: (Int, [String], [String]) throws -> Row
  ) {
    do {
      let records = try CSV.parse(try readTextFile(file, encoding: encoding))
      guard let first = records.first else { throw CLIError("\(file) is empty", exitCode: 66) }
      header = first.fields
      let names = first.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
      let missing = required.filter { !names.contains($0) }
      guard missing.isEmpty else {
        throw CLIError("\(file): missing columns \(missing.joined(separator: ", "))", exitCode: 66)
      }
      if let unknown = names.first(where: { !known.contains($0) && $0 != "error" }) {
        throw CLIError("\(file): unknown column \(unknown.debugDescription); see `\(command) --help`", exitCode: 66)
      }
      for (line, fields) in records.dropFirst() {
        original[line] = fields
        do { rows.append(try row(line, fields, names)) } catch let e as CLIError {
          failures.append((line, "INVALID_ARGUMENT", e.message, "csv.row"))
        }
      }
    } catch let e as CSV.ParseError {
      Tuoyu.fail(CLIError("\(file):\(e.line): \(e.message)", exitCode: 66))
    } catch { Tuoyu.fail(error) }
  }

  /// Prints how the import went (or, for JSON, `json` with every failure) and writes the refused
  /// rows to `failedRows`; exit 2 when any row was refused.
  func finish(
    _ options: GlobalOptions, file: String, dryRun: Bool, imported: Int32, unchanged: Int32, service: [RowFailure],
    failedRows: String?, json: ([RowFailure]) -> any PlainJSONMessage
  ) throws {
    let all = (failures + service).sorted { $0.row < $1.row }
    var t = Table(["ROW", "STATUS", "RULE", "MESSAGE"])
    for f in all { t.add([String(f.row), f.code, f.rule, f.message]) }
    let total = rows.count + failures.count
    if options.output.isJSON {
      printOutput(options, t, json: [json(all)])
    } else {
      print(
        dryRun
          ? "dry run of \(total) rows from \(file): \(imported) would be imported, \(unchanged) unchanged, \(all.count) would fail; nothing was changed"
          : "imported \(imported) of \(total) rows from \(file); \(unchanged) unchanged, \(all.count) failed"
      )
      if !all.isEmpty { print(t.render(options.output == .csv ? .csv : .table) { "" }) }
    }
    if let failedRows {
      writeFailedRows(failedRows, header: header, original: original, failures: all, encoding: options.encoding)
      if options.output == .table { print("refused rows written to \(failedRows)") }
    }
    if !all.isEmpty { throw ExitCode(2) }
  }
}

/// What a streamed import answers (the workforce's and the subsidy's responses alike).
protocol ImportResponse: SwiftProtobuf.Message {
  associatedtype Failure: SwiftProtobuf.Message
  var received: Int32 { get set }
  var imported: Int32 { get set }
  var unchanged: Int32 { get set }
  var failures: [Failure] { get set }
  var validateOnly: Bool { get set }
}

extension Tuoyu_Workforce_V1_ImportStaffResponse: ImportResponse {}
extension Tuoyu_Subsidy_V1_ImportChildrenResponse: ImportResponse {}

extension ImportFile where Row: SwiftProtobuf.Message {
  /// Streams the rows (each marked `dryRun` by `mark`) in calls of `chunk` rows (a call's limit),
  /// opened by `open`, and adds up their answers.
  func stream<Response: ImportResponse>(
    chunk: Int, dryRun: Bool, mark: (inout Row, Bool) -> Void,
    open: () async throws -> ClientCall<Row, Response>
  ) async throws -> Response {
    var all = Response()
    for start in stride(from: 0, to: max(rows.count, 1), by: chunk) {
      let call = try await open()
      for var r in rows[start..<min(start + chunk, rows.count)] {
        mark(&r, dryRun)
        try await call.send(r)
      }
      try await call.end()
      guard let response = try await call.receive() else {
        throw await call.error() ?? RPCError(code: .internal, message: "no response")
      }
      all.received += response.received
      all.imported += response.imported
      all.unchanged += response.unchanged
      all.failures += response.failures
      all.validateOnly = response.validateOnly
    }
    return all
  }
}
