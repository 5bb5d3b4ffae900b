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
      "certificate_number", "certificate_issuer", "certificate_issued", "certificate_expires",
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
    let input = ImportFile(
      file, encoding: options.encoding, required: Self.required, known: Self.known, command: "tuoyu workforce import",
      row: Self.row)
    let response: Tuoyu_Workforce_V1_ImportStaffResponse = await withClient(options, "workforce") { c in
      var callOptions = options.callOptions
      callOptions.timeout = .seconds(max(options.timeout, 600))
      return try await input.stream(chunk: 10_000, dryRun: dryRun, mark: { $0.validateOnly = $1 }) {
        try await WF.Client(c).importStaff(options: callOptions)
      }
    }
    try input.finish(
      options, file: file, dryRun: dryRun, imported: response.imported, unchanged: response.unchanged,
      service: response.failures.map { (Int($0.row), $0.code, $0.message, $0.rule) }, failedRows: failedRows
    ) { all in
      var r = response
      r.failures = all.map { f in
        .with {
          $0.row = Int32(clamping: f.row)
          $0.code = f.code
          $0.message = f.message
          $0.rule = f.rule
        }
      }
      return r
    }
  }
}
