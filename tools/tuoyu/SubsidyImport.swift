import API
import ArgumentParser
import Foundation
import RPC
import SubsidyAPI

/// `tuoyu subsidy import-children FILE.csv`: children (and where each is enrolled), streamed to
/// ImportChildren; per row, not all-or-nothing. Exit 2 when any row failed.
struct ImportChildren: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import-children",
    abstract: "Import children and their enrolments from CSV (per row; the refused rows are listed).",
    discussion: """
      Columns by header name. Required: id_number, county_code. Optional: local_hukou and hardship
      (yes/no), credit_code (the institution the child is enrolled at) and start_on (YYYY-MM-DD,
      default today). A child already registered is matched by ID number; a row that changes
      nothing is "unchanged". ID numbers never appear in the report. --dry-run checks every row and
      changes nothing.
      """)
  @OptionGroup var options: GlobalOptions
  @Argument(help: "The CSV file.", completion: .file(extensions: ["csv"])) var file: String
  @Flag(help: "Check every row as the import would, and change nothing.") var dryRun = false
  @Option(help: "Write the refused rows (with an error column) to this CSV file.") var failedRows: String?

  static let required = ["id_number", "county_code"]
  static let known = Set(required + ["local_hukou", "hardship", "credit_code", "start_on"])

  static func row(_ line: Int, _ fields: [String], _ header: [String]) throws -> Tuoyu_Subsidy_V1_ChildImportRow {
    var v: [String: String] = [:]
    for (h, f) in zip(header, fields) { v[h] = f.trimmingCharacters(in: .whitespaces) }
    func text(_ k: String) -> String { v[k] ?? "" }
    func flag(_ k: String) throws -> Bool {
      switch text(k).lowercased() {
      case "", "no", "n", "false", "0", "否": return false
      case "yes", "y", "true", "1", "是": return true
      default: throw CLIError("\(k) must be yes or no")
      }
    }
    return try .with {
      $0.row = Int32(clamping: line)
      $0.idNumber = text("id_number").uppercased()
      $0.countyCode = text("county_code")
      $0.localHukou = try flag("local_hukou")
      $0.hardship = try flag("hardship")
      $0.creditCode = text("credit_code")
      if !text("start_on").isEmpty { $0.startOn = try date(text("start_on"), "start_on") }
    }
  }

  func run() async throws {
    let input = ImportFile(
      file, encoding: options.encoding, required: Self.required, known: Self.known,
      command: "tuoyu subsidy import-children", row: Self.row)
    let response: Tuoyu_Subsidy_V1_ImportChildrenResponse = await withClient(options, "subsidy") { c in
      var callOptions = options.callOptions
      callOptions.timeout = .seconds(max(options.timeout, 600))
      return try await input.stream(chunk: 50_000, dryRun: dryRun, mark: { $0.validateOnly = $1 }) {
        try await SB.Client(c).importChildren(options: callOptions)
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
