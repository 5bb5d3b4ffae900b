import API
import RegistryAPI
import Foundation
import SwiftProtobuf

/// Rows to show: as an aligned table (CJK counted double-width), CSV (RFC 4180), or — for
/// `--output json` — the response message itself in protobuf's JSON mapping.
struct Table {
  var headers: [String]
  var rows: [[String]] = []

  init(_ headers: [String]) { self.headers = headers }

  mutating func add(_ row: [String]) { rows.append(row) }

  func render(_ format: OutputFormat, withHeaders: Bool = true, json: () -> String) -> String {
    // What the services return is data, possibly hostile: no cell reaches the terminal or a
    // spreadsheet with control characters, and no CSV cell can be taken for a formula.
    let rows = self.rows.map { $0.map { DisplayText.escaped($0) } }
    let headers = withHeaders ? [self.headers] : []
    switch format {
    case .json, .ndjson: return json()
    case .csv:
      return (headers + rows).map { $0.map { CSV.quote(CSV.guardFormula($0)) }.joined(separator: ",") }
        .joined(separator: "\n")
    case .table:
      var widths = self.headers.map(displayWidth)
      for row in rows {
        for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], displayWidth(cell)) }
      }
      func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in
          i == cells.count - 1 ? c : c + String(repeating: " ", count: widths[i] - displayWidth(c))
        }.joined(separator: "  ")
      }
      return (headers.map(line) + rows.map(line)).joined(separator: "\n")
    }
  }
}

/// Terminal columns of `s`: East Asian wide characters take two.
func displayWidth(_ s: String) -> Int {
  s.unicodeScalars.reduce(0) { w, u in
    let v = u.value
    let wide =
      (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
      || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
      || (0xFFE0...0xFFE6).contains(v) || (0x20000...0x3FFFD).contains(v)
    return w + (wide ? 2 : 1)
  }
}

/// Prints `table` (table or CSV) or the messages as plain JSON: the forms the flags take (enum
/// short names, YYYY-MM-DD, yuan), every field with its default. JSON is one document: the
/// object a command is about, or — for a list (`asList`), whatever its length, so that a script
/// never meets an object where it expects an array — an array. ndjson: one object a line.
func printOutput(
  _ options: GlobalOptions, _ table: Table, json messages: [any PlainJSONMessage], asList: Bool = false
) {
  let text = table.render(options.output, withHeaders: !options.noHeaders) {
    let objects = messages.map { $0.plainJSON().rendered() }
    if options.output == .ndjson || (objects.count == 1 && !asList) { return objects.joined(separator: "\n") }
    return "[" + objects.joined(separator: ",") + "]"
  }
  if options.output == .csv {
    // CSV is for spreadsheets: UTF-8 with a byte-order mark (or GBK with --encoding gbk).
    fflush(nil)
    FileHandle.standardOutput.write(options.encoding.encode(text + "\n", bom: true))
  } else {
    print(text)
  }
}

/// RFC 4180 CSV: quoted fields with doubled quotes, commas and newlines inside quotes.
enum CSV {
  /// A cell a spreadsheet would run as a formula (=, +, -, @, or a leading tab or CR) is
  /// prefixed with an apostrophe (OWASP's CSV-injection guard). Numbers such as -12.5 stay.
  static func guardFormula(_ s: String) -> String {
    guard let first = s.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return s }
    if first == "-" || first == "+", Double(s) != nil { return s }
    return "'" + s
  }

  /// One record: the fields quoted as needed, joined by commas, ended by a newline.
  static func line(_ fields: [String]) -> String {
    fields.map(quote).joined(separator: ",") + "\n"
  }

  static func quote(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
      ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
  }

  struct ParseError: Error {
    let line: Int
    let message: String
  }

  /// Records with the line each starts on; an unterminated quote is an error.
  static func parse(_ text: String) throws -> [(line: Int, fields: [String])] {
    var records: [(Int, [String])] = []
    var fields: [String] = []
    var field = ""
    var inQuotes = false
    var line = 1
    var start = 1
    var chars = Array(text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text)[...]
    var sawAny = false
    while let c = chars.popFirst() {
      sawAny = true
      if inQuotes {
        if c == "\"" {
          if chars.first == "\"" {
            field.append("\"")
            chars.removeFirst()
          } else {
            inQuotes = false
          }
        } else {
          if c == "\n" || c == "\r\n" { line += 1 }
          field.append(c)
        }
        continue
      }
      switch c {
      case "\"" where field.isEmpty: inQuotes = true
      case ",":
        fields.append(field)
        field = ""
      case "\n", "\r\n", "\r":
        fields.append(field)
        if !(fields.count == 1 && fields[0].isEmpty) { records.append((start, fields)) }
        fields = []
        field = ""
        line += 1
        start = line
      default: field.append(c)
      }
    }
    if inQuotes { throw ParseError(line: start, message: "a quoted field is not closed") }
    if sawAny && (!field.isEmpty || !fields.isEmpty) {
      fields.append(field)
      records.append((start, fields))
    }
    return records
  }
}

/// The request as it will be sent, after the contract's limits (the same the service checks): a
/// flag past its bound is a usage error (exit 64) naming every field, and nothing is sent.
func checked<M: LimitedMessage>(_ request: M) throws -> M {
  var request = request
  let violations = request.limitViolations()
  guard violations.isEmpty else {
    throw CLIError("invalid request, nothing was sent:\n" + violations.map { "  \($0)" }.joined(separator: "\n"))
  }
  return request
}

/// Every item of a paged list: `fetch` is called with each page token ("" first) and returns the
/// page's items and the next token, until the token is empty.
func allPages<T>(_ fetch: (String) async throws -> (items: [T], next: String)) async throws -> [T] {
  var all: [T] = []
  var token = ""
  repeat {
    let page = try await fetch(token)
    all += page.items
    token = page.next
  } while !token.isEmpty
  return all
}

/// Writes the refused rows of an import as they were in the file — its header and an added error
/// column (which the imports ignore) — so that they can be fixed and imported again. `failures`
/// are (row, status, message, rule); `original` the file's fields by line.
func writeFailedRows(
  _ path: String, header: [String], original: [Int: [String]],
  failures: [(row: Int, code: String, message: String, rule: String)],
  encoding: TextEncoding
) {
  var out = CSV.line(header.filter { $0.lowercased() != "error" } + ["error"])
  for f in failures {
    guard let fields = original[f.row] else { continue }
    let kept = zip(header, fields).filter { $0.0.lowercased() != "error" }.map(\.1)
    out += CSV.line(kept + ["\(f.code): \(f.message)" + (f.rule.isEmpty ? "" : " (rule \(f.rule))")])
  }
  do {
    try encoding.encode(out, bom: true).write(to: URL(fileURLWithPath: path))
  } catch {
    Tuoyu.fail(CLIError("cannot write \(path): \(error.localizedDescription)", exitCode: 66))
  }
}
