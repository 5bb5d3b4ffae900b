import API
import RegistryAPI
import ArgumentParser
import Foundation
import RPC

/// `tuoyu registry import FILE.csv`: streams the rows to ImportInstitutions and reports, per
/// row, what failed and why. Per row, not all-or-nothing: good rows land, bad rows are listed
/// (rows the CLI cannot even read are listed too, and never sent). Exit 2 when any row failed.
struct Import: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Import institutions from CSV (registered, or filed when filing_number is given).",
    discussion: """
      Columns by header name. Required: credit_code, name, legal_nature (non-profit|for-profit),
      authority, township. Optional: mode, care_types (e.g. full-day;half-day), inclusive (yes|no),
      monthly_fee_yuan, address, community, phone, infant, toddler, older_toddler, mixed
      (CLASSES/SEATS), family_seats, carers, tenure_years, serves_meals (yes|no), filing_number,
      effective_date. `tuoyu registry list -o csv` writes these columns, so a list exported,
      edited and imported goes back in. Its `status` column, and the `error` column that
      --failed-rows writes, are ignored.

      A row whose institution is registered already exactly as the row says is "unchanged" (a
      file imported twice changes nothing and fails nothing). --dry-run checks every row as the
      import would and changes nothing. Files are UTF-8 (a byte-order mark is fine) or, with
      --encoding gbk, GBK.
      """)
  @OptionGroup var options: GlobalOptions
  @Argument(help: "The CSV file.", completion: .file(extensions: ["csv"])) var file: String
  @Flag(help: "No progress bar.") var quiet = false
  @Option(
    help:
      "Write the refused rows, as they were in the file (with its header and an added error column), to this CSV file: fix them there and import it."
  )
  var failedRows: String?
  @Flag(help: "Check every row as the import would, and change nothing.") var dryRun = false

  static let required = ["credit_code", "name", "legal_nature", "authority", "township"]
  static let known = Set(
    required + [
      "mode", "care_types", "inclusive", "monthly_fee_yuan", "address", "phone", "infant", "toddler", "older_toddler",
      "mixed", "family_seats", "carers", "tenure_years", "serves_meals", "filing_number", "effective_date",
      "community",
    ] + ignored)
  /// Columns written by the CLI and ignored when the file comes back: `list -o csv`'s status,
  /// --failed-rows' error.
  static let ignored = ["status", "error"]

  /// The columns `tuoyu registry list -o csv` writes: the import's, then the status.
  static let exportColumns = [
    "credit_code", "name", "legal_nature", "authority", "township", "mode", "care_types", "inclusive",
    "monthly_fee_yuan", "address", "community", "phone", "infant", "toddler", "older_toddler", "mixed", "family_seats",
    "carers", "tenure_years", "serves_meals", "filing_number", "effective_date", "status",
  ]

  /// An institution as a row of `exportColumns`, in the forms the import reads.
  static func exportRow(_ i: Institution) -> [String] {
    let f = i.facts
    func seats(_ c: Tuoyu_Registry_V1_ClassSeats) -> String {
      c.classes == 0 && c.seats == 0 ? "" : "\(c.classes)/\(c.seats)"
    }
    func count(_ n: Int32) -> String { n == 0 ? "" : String(n) }
    return [
      i.creditCode, i.displayName,
      i.legalNature == .nonProfit ? "non-profit" : i.legalNature == .forProfit ? "for-profit" : "",
      i.registrationAuthority, f.townshipCode, f.mode == .unspecified ? "" : name(modeNames, f.mode),
      f.careTypes.map { name(careNames, $0) }.joined(separator: ";"), f.inclusive ? "yes" : "no",
      f.monthlyFee.fen == 0 ? "" : Yuan.string(f.monthlyFee.fen), f.address, f.community, f.contactPhone,
      seats(f.seats.infant), seats(f.seats.toddler), seats(f.seats.olderToddler), seats(f.seats.mixed),
      count(f.seats.family), count(f.carers), count(f.premisesTenureYears), f.servesMeals ? "yes" : "no",
      i.filingNumber, show(i.effectiveDate), name(statusNames, i.status),
    ]
  }

  /// One CSV record as a row to send, or why it cannot be read.
  static func row(_ line: Int, _ fields: [String], _ header: [String]) -> Result<Tuoyu_Registry_V1_ImportRow, CLIError>
  {
    guard fields.count == header.count else {
      return .failure(CLIError("\(header.count) columns expected, got \(fields.count)"))
    }
    var v: [String: String] = [:]
    for (h, f) in zip(header, fields) {
      var cell = f.trimmingCharacters(in: .whitespaces)
      // What the CSV writer's formula guard added ('+86…) comes off again.
      if cell.hasPrefix("'"), let next = cell.dropFirst().unicodeScalars.first, "=+-@".unicodeScalars.contains(next) {
        cell.removeFirst()
      }
      v[h] = cell
    }
    func yes(_ k: String) throws -> Bool {
      switch v[k, default: ""].lowercased() {
      case "", "no", "false", "0", "否": return false
      case "yes", "true", "1", "是": return true
      default: throw CLIError("\(k) must be yes or no, got \(v[k]!)")
      }
    }
    func int(_ k: String) throws -> Int32 {
      guard let s = v[k], !s.isEmpty else { return 0 }
      guard let n = Int32(s) else { throw CLIError("\(k) must be a whole number, got \(s)") }
      return n
    }
    do {
      var r = Tuoyu_Registry_V1_ImportRow()
      r.row = Int32(line)
      r.creditCode = v["credit_code", default: ""]
      r.displayName = v["name", default: ""]
      r.legalNature = try lookup(
        [("non-profit", .nonProfit), ("for-profit", .forProfit)], v["legal_nature", default: ""], "legal_nature")
      r.registrationAuthority = v["authority", default: ""]
      r.facts.townshipCode = v["township", default: ""]
      if let m = v["mode"], !m.isEmpty { r.facts.mode = try lookup(modeNames, m, "mode") }
      if let c = v["care_types"], !c.isEmpty {
        r.facts.careTypes = try c.split(separator: ";").map { try lookup(careNames, String($0), "care_types") }
      }
      r.facts.inclusive = try yes("inclusive")
      if let fee = v["monthly_fee_yuan"], !fee.isEmpty { r.facts.monthlyFee.fen = try fen(fee, "monthly_fee_yuan") }
      r.facts.address = v["address", default: ""]
      r.facts.community = v["community", default: ""]
      r.facts.contactPhone = v["phone", default: ""]
      r.facts.seats.infant = try classSeats(v["infant"].flatMap { $0.isEmpty ? nil : $0 }, "infant")
      r.facts.seats.toddler = try classSeats(v["toddler"].flatMap { $0.isEmpty ? nil : $0 }, "toddler")
      r.facts.seats.olderToddler = try classSeats(v["older_toddler"].flatMap { $0.isEmpty ? nil : $0 }, "older_toddler")
      r.facts.seats.mixed = try classSeats(v["mixed"].flatMap { $0.isEmpty ? nil : $0 }, "mixed")
      r.facts.seats.family = try int("family_seats")
      r.facts.carers = try int("carers")
      r.facts.premisesTenureYears = try int("tenure_years")
      r.facts.servesMeals = try yes("serves_meals")
      r.filingNumber = v["filing_number", default: ""]
      r.effectiveDate = try date(v["effective_date"].flatMap { $0.isEmpty ? nil : $0 }, "effective_date")
      return .success(r)
    } catch let e as CLIError {
      return .failure(e)
    } catch {
      return .failure(CLIError("\(error)"))
    }
  }

  func run() async throws {
    var rows: [Tuoyu_Registry_V1_ImportRow] = []
    var local: [Tuoyu_Registry_V1_ImportFailure] = []
    var original: [Int: [String]] = [:]
    var headerFields: [String] = []
    do {
      let records = try CSV.parse(try readTextFile(file, encoding: options.encoding))
      headerFields = records.first?.fields ?? []
      for (line, fields) in records.dropFirst() { original[line] = fields }
      guard let header = records.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) else {
        throw CLIError("\(file) is empty", exitCode: 66)
      }
      let missing = Self.required.filter { !header.contains($0) }
      guard missing.isEmpty else {
        throw CLIError("\(file): missing columns \(missing.joined(separator: ", "))", exitCode: 66)
      }
      if let unknown = header.first(where: { !Self.known.contains($0) }) {
        throw CLIError(
          "\(file): unknown column \(unknown.debugDescription); see `tuoyu registry import --help`", exitCode: 66)
      }
      for (line, fields) in records.dropFirst() {
        switch Self.row(line, fields, header) {
        case .success(let r): rows.append(r)
        case .failure(let e):
          local.append(
            .with {
              $0.row = Int32(line)
              $0.creditCode = fields.first ?? ""
              $0.code = "INVALID_ARGUMENT"
              $0.message = e.message
              $0.rule = "csv.row"
            })
        }
      }
    } catch let e as CSV.ParseError {
      Tuoyu.fail(CLIError("\(file):\(e.line): \(e.message)", exitCode: 66))
    } catch { Tuoyu.fail(error) }

    let total = rows.count
    let bar = !quiet && isatty(2) != 0
    // One call takes at most 20,000 rows (the service's limit); a larger file goes in calls of
    // `Self.rowsPerCall`, one after another, and their answers are added up.
    let response = await withClient(options, "registry") { c in
      var callOptions = options.callOptions
      callOptions.timeout = .seconds(max(options.timeout, 600))
      var all = Tuoyu_Registry_V1_ImportInstitutionsResponse()
      var sent = 0
      for chunk in stride(from: 0, to: max(rows.count, 1), by: Self.rowsPerCall) {
        let call = try await R.Client(c).importInstitutions(options: callOptions)
        for var r in rows[chunk..<min(chunk + Self.rowsPerCall, rows.count)] {
          r.validateOnly = dryRun
          try await call.send(r)
          sent += 1
          if bar && (sent % 25 == 0 || sent == total) { progress(sent, total) }
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
    if bar { FileHandle.standardError.write(Data("\n".utf8)) }
    var failures = local + response.failures
    failures.sort { $0.row < $1.row }
    var t = Table(["ROW", "CREDIT CODE", "STATUS", "RULE", "MESSAGE"])
    for f in failures { t.add([String(f.row), f.creditCode, f.code, f.rule, f.message]) }
    if options.output.isJSON {
      var all = response
      all.failures = failures
      all.received += Int32(local.count)
      printOutput(options, t, json: [all])
    } else {
      let total = Int(response.received) + local.count
      if dryRun {
        print(
          "dry run of \(total) rows from \(file): \(response.imported) would be imported, \(response.unchanged) unchanged, \(failures.count) would fail; nothing was changed"
        )
      } else {
        print(
          "imported \(response.imported) of \(total) rows from \(file); \(response.unchanged) unchanged, \(failures.count) failed"
        )
      }
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

  /// Rows sent per call (the service takes at most 20,000).
  static let rowsPerCall = 10_000

  func progress(_ done: Int, _ total: Int) {
    let width = 30
    let filled = total == 0 ? width : done * width / total
    let line =
      "\r[\(String(repeating: "#", count: filled))\(String(repeating: " ", count: width - filled))] \(done)/\(total) rows"
    FileHandle.standardError.write(Data(line.utf8))
  }
}
