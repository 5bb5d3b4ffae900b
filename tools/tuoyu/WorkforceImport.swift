import API
import ArgumentParser
import Foundation
import RPC
import WorkforceAPI

/// `tuoyu workforce import FILE.csv`: people, their employment and a certificate per row, streamed
/// to ImportStaff; per row, not all-or-nothing. Exit 2 when any row failed.
struct ImportStaff: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import",
    abstract: "Import staff and certificates from CSV (per row; the refused rows are listed).",
    discussion: """
      Columns by header name. Required: name, id_number. Optional: phone, education
      (junior-secondary|senior-secondary|college|bachelor|postgraduate), experience_years, credit_code
      and role (caregiver|health-worker|cook|security|manager) to hire at an institution,
      start_date, and a certificate: certificate_kind (infant-carer|nursery-carer|health-care|
      teacher|health), certificate_number, certificate_issuer, certificate_issued,
      certificate_expires. A person already registered under the same ID number and name is
      matched, not registered again; a row that changes nothing is "unchanged". ID numbers never
      appear in the report. --dry-run checks every row and changes nothing.
      """)
  @OptionGroup var options: GlobalOptions
  @Argument(help: "The CSV file.", completion: .file(extensions: ["csv"])) var file: String
  @Flag(help: "Check every row as the import would, and change nothing.") var dryRun = false
  @Option(help: "Write the refused rows (with an error column) to this CSV file.") var failedRows: String?

  static let required = ["name", "id_number"]
  static let known = Set(
    required + [
      "phone", "education", "experience_years", "credit_code", "role", "start_date", "certificate_kind",
      "certificate_number", "certificate_issuer", "certificate_issued", "certificate_expires", "error",
    ])

  static func row(_ line: Int, _ fields: [String], _ header: [String]) throws -> Tuoyu_Workforce_V1_StaffImportRow {
    var v: [String: String] = [:]
    for (h, f) in zip(header, fields) { v[h] = f.trimmingCharacters(in: .whitespaces) }
    func text(_ k: String) -> String { v[k] ?? "" }
    return try .with {
      $0.row = Int32(clamping: line)
      $0.displayName = text("name")
      $0.idNumber = text("id_number").uppercased()
      $0.phone = text("phone")
      if !text("education").isEmpty { $0.education = try lookup(educationNames, text("education"), "education") }
      if !text("experience_years").isEmpty {
        guard let n = Int32(text("experience_years")) else { throw CLIError("experience_years must be a whole number") }
        $0.relatedExperienceYears = n
      }
      $0.creditCode = text("credit_code")
      if !text("role").isEmpty { $0.role = try lookup(staffRoleNames, text("role"), "role") }
      if !text("start_date").isEmpty { $0.startDate = try date(text("start_date"), "start_date") }
      if !text("certificate_kind").isEmpty {
        $0.certificateKind = try lookup(certificateNames, text("certificate_kind"), "certificate_kind")
        $0.certificate.number = text("certificate_number")
        $0.certificate.issuer = text("certificate_issuer")
        $0.certificate.issued = try date(text("certificate_issued"), "certificate_issued")
        if !text("certificate_expires").isEmpty {
          $0.certificate.expires = try date(text("certificate_expires"), "certificate_expires")
        }
      }
    }
  }

  func run() async throws {
    var rows: [Tuoyu_Workforce_V1_StaffImportRow] = []
    var failures: [Tuoyu_Workforce_V1_ImportFailure] = []
    var original: [Int: [String]] = [:]
    var headerFields: [String] = []
    do {
      let records = try CSV.parse(try readTextFile(file, encoding: options.encoding))
      guard let first = records.first else { throw CLIError("\(file) is empty", exitCode: 66) }
      headerFields = first.fields
      let header = first.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
      let missing = Self.required.filter { !header.contains($0) }
      guard missing.isEmpty else {
        throw CLIError("\(file): missing columns \(missing.joined(separator: ", "))", exitCode: 66)
      }
      if let unknown = header.first(where: { !Self.known.contains($0) }) {
        throw CLIError(
          "\(file): unknown column \(unknown.debugDescription); see `tuoyu workforce import --help`", exitCode: 66)
      }
      for (line, fields) in records.dropFirst() {
        original[line] = fields
        do { rows.append(try Self.row(line, fields, header)) } catch let e as CLIError {
          failures.append(
            .with {
              $0.row = Int32(clamping: line)
              $0.code = "INVALID_ARGUMENT"
              $0.message = e.message
              $0.rule = "csv.row"
            })
        }
      }
    } catch let e as CSV.ParseError {
      Tuoyu.fail(CLIError("\(file):\(e.line): \(e.message)", exitCode: 66))
    } catch { Tuoyu.fail(error) }

    let response = await withClient(options, "workforce") { c in
      var callOptions = options.callOptions
      callOptions.timeout = .seconds(max(options.timeout, 600))
      var all = Tuoyu_Workforce_V1_ImportStaffResponse()
      for chunk in stride(from: 0, to: max(rows.count, 1), by: 10_000) {
        let call = try await WF.Client(c).importStaff(options: callOptions)
        for var r in rows[chunk..<min(chunk + 10_000, rows.count)] {
          r.validateOnly = dryRun
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
    failures += response.failures
    failures.sort { $0.row < $1.row }
    var t = Table(["ROW", "STATUS", "RULE", "MESSAGE"])
    for f in failures { t.add([String(f.row), f.code, f.rule, f.message]) }
    let total = rows.count + failures.count - response.failures.count
    if options.output.isJSON {
      var all = response
      all.failures = failures
      printOutput(options, t, json: [all])
    } else {
      print(
        dryRun
          ? "dry run of \(total) rows from \(file): \(response.imported) would be imported, \(response.unchanged) unchanged, \(failures.count) would fail; nothing was changed"
          : "imported \(response.imported) of \(total) rows from \(file); \(response.unchanged) unchanged, \(failures.count) failed"
      )
      if !failures.isEmpty { print(t.render(options.output == .csv ? .csv : .table) { "" }) }
    }
    if let failedRows {
      writeFailedRows(
        failedRows, header: headerFields, original: original,
        failures: failures.map { (Int($0.row), $0.code, $0.message, $0.rule) }, encoding: options.encoding)
      if options.output == .table { print("refused rows written to \(failedRows)") }
    }
    if !failures.isEmpty { throw ExitCode(2) }
  }
}
