import API
import RegistryAPI
import ArgumentParser
import Foundation
import RPC

typealias R = Tuoyu_Registry_V1_Registry

struct RegistryCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "registry", abstract: "Institutions, filing, regions and indicators (tuoyu-registry).",
    subcommands: [
      Regions.self, Region.self, PutRegion.self, ImportRegions.self,
      Register.self, SubmitFiling.self, File.self, Refuse.self, ChangeFiling.self,
      Suspend.self, Reinstate.self, Revoke.self, Close.self,
      Get.self, Describe.self, Pending.self, List.self, History.self, Public.self,
      Rules.self, PutRule.self, CalendarCommand.self, PutCalendarDay.self, Indicators.self, Import.self,
      Watch<RegistryFeed>.self,
    ])
}

// MARK: Parsing helpers

func date(_ text: String?, _ flag: String) throws -> Tuoyu_Common_V1_Date {
  guard let text else { return .init() }
  let p = text.split(separator: "-")
  guard p.count == 3, let y = Int32(p[0]), let m = Int32(p[1]), let d = Int32(p[2]) else {
    throw CLIError("\(flag) must be YYYY-MM-DD, got \(text)")
  }
  return .with {
    $0.year = y
    $0.month = m
    $0.day = d
  }
}

func show(_ d: Tuoyu_Common_V1_Date) -> String {
  d.year == 0 ? "" : String(format: "%04d-%02d-%02d", d.year, d.month, d.day)
}

func requestID(_ given: String?) -> String { given ?? UUID().uuidString.lowercased() }

/// Names the CLI shows and accepts; the full names JSON prints (e.g. family-care-point) are
/// accepted too.
let modeNames: [(String, Tuoyu_Registry_V1_ServiceMode)] =
  [
    ("family", .familyCarePoint), ("community", .community), ("private", .privateCentre),
    ("kindergarten", .kindergartenClass), ("employer", .employer), ("medical", .medicalCare),
  ] + Tuoyu_Registry_V1_ServiceMode.plainNames
let levelNames: [(String, Tuoyu_Registry_V1_RegionLevel)] = [
  ("city", .city), ("county", .county), ("township", .township),
]
let careNames: [(String, Tuoyu_Registry_V1_CareType)] = [
  ("full-day", .fullDay), ("half-day", .halfDay), ("hourly", .hourly), ("temporary", .temporary),
]
let statusNames: [(String, Tuoyu_Registry_V1_InstitutionStatus)] = [
  ("registered", .registered), ("filing-submitted", .filingSubmitted), ("filed", .filed),
  ("filing-refused", .filingRefused), ("suspended", .suspended), ("revoked", .revoked), ("closed", .closed),
]

/// How a document is given on the command line.
let documentForm = "NUMBER;ISSUER;ISSUED[;EXPIRES], dates YYYY-MM-DD"

/// A document from "NUMBER;ISSUER;ISSUED[;EXPIRES]".
func document(_ text: String, _ flag: String) throws -> Tuoyu_Common_V1_Document {
  let p = text.split(separator: ";", omittingEmptySubsequences: false).map {
    $0.trimmingCharacters(in: .whitespaces)
  }
  guard (3...4).contains(p.count), !p[0].isEmpty, !p[1].isEmpty else {
    throw CLIError("\(flag) must be \(documentForm); got \(text)")
  }
  return try .with {
    $0.number = p[0]
    $0.issuer = p[1]
    $0.issued = try date(p[2], "\(flag) issue date")
    if p.count == 4, !p[3].isEmpty { $0.expires = try date(p[3], "\(flag) expiry date") }
  }
}

/// A document as an officer reads it: number · issuer · issued … · expires … (EXPIRED).
func showDocument(_ d: Tuoyu_Common_V1_Document, today: LocalDay = .today()) -> String {
  guard d != .init() else { return "-" }
  var parts = [DisplayText.escaped(d.number), DisplayText.escaped(d.issuer), "issued \(show(d.issued))"]
  if d.expires.year != 0 {
    parts.append("expires \(show(d.expires))" + (LocalDay(d.expires) < today ? " EXPIRED" : ""))
  }
  return parts.joined(separator: " · ")
}

/// Yuan as given on the command line or in a CSV cell, in fen.
func fen(_ text: String, _ flag: String) throws -> Int64 {
  guard let fen = Yuan.fen(text) else { throw CLIError("\(flag) must be yuan like 1800 or 1800.50, got \(text)") }
  return fen
}

func lookup<T: Equatable>(_ table: [(String, T)], _ name: String, _ flag: String) throws -> T {
  guard let v = table.first(where: { $0.0 == name })?.1 else {
    // The hint names each value once, by its first (short) name.
    var hint: [String] = []
    for (i, entry) in table.enumerated() where !table[..<i].contains(where: { $0.1 == entry.1 }) {
      hint.append(entry.0)
    }
    throw CLIError("\(flag): unknown \(name.debugDescription); one of \(hint.joined(separator: ", "))")
  }
  return v
}

func name<T: Equatable>(_ table: [(String, T)], _ v: T) -> String { table.first { $0.1 == v }?.0 ?? "-" }

/// "CLASSES/SEATS", e.g. "2/30".
func classSeats(_ text: String?, _ flag: String) throws -> Tuoyu_Registry_V1_ClassSeats {
  guard let text else { return .init() }
  let p = text.split(separator: "/")
  guard p.count == 2, let c = Int32(p[0]), let s = Int32(p[1]) else {
    throw CLIError("\(flag) must be CLASSES/SEATS, e.g. 2/30; got \(text)")
  }
  return .with {
    $0.classes = c
    $0.seats = s
  }
}

/// What a filing declares, from flags.
struct FactsOptions: ParsableArguments {
  @Option(
    help: "family, community, private, kindergarten, employer or medical.", completion: .list(modeNames.map(\.0)))
  var mode: String?
  @Option(
    help: "Comma-separated: full-day, half-day, hourly, temporary (default full-day).",
    completion: .list(careNames.map(\.0)))
  var care: String?
  @Flag(inversion: .prefixedNo, help: "普惠 (inclusive, affordable), or not.") var inclusive: Bool?
  @Option(help: "Monthly fee in yuan, e.g. 1800 or 1800.50.") var fee: String?
  @Option(help: "9-digit township code.") var township: String?
  @Option(help: "Address.") var address: String?
  @Option(help: "Community or village (社区/村): what the public listing shows of a family care point.")
  var community: String?
  @Option(help: "Contact phone (\"\" to remove).") var phone: String?
  @Option(help: "乳儿班 CLASSES/SEATS (0/0 for none).") var infant: String?
  @Option(help: "托小班 CLASSES/SEATS (0/0 for none).") var toddler: String?
  @Option(help: "托大班 CLASSES/SEATS (0/0 for none).") var olderToddler: String?
  @Option(help: "混合班 CLASSES/SEATS (0/0 for none).") var mixed: String?
  @Option(help: "Family care point: children.") var family: Int32?
  @Option(help: "Family care point: carers.") var carers: Int32?
  @Option(help: "Family care point: years the home is owned or leased for.") var tenure: Int32?
  @Flag(inversion: .prefixedNo, help: "Meals are served, or not.") var meals: Bool?

  /// The whole facts of a new filing (what is not given is empty; care full-day).
  func facts() throws -> FilingFacts {
    var base = FilingFacts()
    base.careTypes = [.fullDay]
    return try applied(to: base)
  }

  /// `base` with only the flags given changed (a `--no-…` flag turns a yes off).
  func applied(to base: FilingFacts) throws -> FilingFacts {
    var f = base
    if let mode { f.mode = try lookup(modeNames, mode, "--mode") }
    if let care { f.careTypes = try care.split(separator: ",").map { try lookup(careNames, String($0), "--care") } }
    if let inclusive { f.inclusive = inclusive }
    if let fee { f.monthlyFee.fen = try fen(fee, "--fee") }
    if let township { f.townshipCode = township }
    if let address { f.address = address }
    if let community { f.community = community }
    if let phone { f.contactPhone = phone }
    if let infant { f.seats.infant = try classSeats(infant, "--infant") }
    if let toddler { f.seats.toddler = try classSeats(toddler, "--toddler") }
    if let olderToddler { f.seats.olderToddler = try classSeats(olderToddler, "--older-toddler") }
    if let mixed { f.seats.mixed = try classSeats(mixed, "--mixed") }
    if let family { f.seats.family = family }
    if let carers { f.carers = carers }
    if let tenure { f.premisesTenureYears = tenure }
    if let meals { f.servesMeals = meals }
    return f
  }
}

/// Each fact as an officer reads it, in a fixed order (for detail views and differences).
func factLines(_ f: FilingFacts) -> [(String, String)] {
  func seats(_ c: Tuoyu_Registry_V1_ClassSeats) -> String {
    c.classes == 0 && c.seats == 0 ? "-" : "\(c.classes)/\(c.seats)"
  }
  return [
    ("mode 服务模式", name(modeNames, f.mode)),
    ("care 托育类型", f.careTypes.map { name(careNames, $0) }.joined(separator: ",")),
    ("inclusive 普惠", f.inclusive ? "yes" : "no"),
    ("fee 月收费", f.monthlyFee.fen == 0 ? "-" : "¥" + Yuan.string(f.monthlyFee.fen)),
    ("township 乡镇街道", f.townshipCode.isEmpty ? "-" : f.townshipCode),
    ("address 地址", f.address.isEmpty ? "-" : DisplayText.escaped(f.address)),
    ("community 社区", f.community.isEmpty ? "-" : DisplayText.escaped(f.community)),
    ("phone 电话", f.contactPhone.isEmpty ? "-" : f.contactPhone),
    ("infant 乳儿班", seats(f.seats.infant)),
    ("toddler 托小班", seats(f.seats.toddler)),
    ("older-toddler 托大班", seats(f.seats.olderToddler)),
    ("mixed 混合班", seats(f.seats.mixed)),
    ("family 家庭托育点人数", f.seats.family == 0 ? "-" : String(f.seats.family)),
    ("carers 照护人员", f.carers == 0 ? "-" : String(f.carers)),
    ("tenure 场地年限", f.premisesTenureYears == 0 ? "-" : String(f.premisesTenureYears)),
    ("meals 供餐", f.servesMeals ? "yes" : "no"),
  ]
}

/// The facts that differ, as `label: old → new`.
func factDifferences(_ old: FilingFacts, _ new: FilingFacts) -> [String] {
  zip(factLines(old), factLines(new)).compactMap { a, b in a.1 == b.1 ? nil : "\(a.0): \(a.1) → \(b.1)" }
}

typealias FilingFacts = Tuoyu_Registry_V1_FilingFacts
typealias Institution = Tuoyu_Registry_V1_Institution

func institutionTable(_ list: [Institution]) -> Table {
  var t = Table(["CREDIT CODE", "NAME", "STATUS", "FILING NO.", "MODE", "普惠", "FEE", "SEATS", "TOWNSHIP", "SINCE"])
  for i in list {
    t.add([
      i.creditCode, i.displayName, name(statusNames, i.status), i.filingNumber, name(modeNames, i.facts.mode),
      i.facts.inclusive ? "yes" : "no", i.facts.monthlyFee.fen == 0 ? "" : Yuan.string(i.facts.monthlyFee.fen),
      String(i.facts.seats.total), i.facts.townshipCode, show(i.effectiveDate),
    ])
  }
  return t
}

func printInstitution(_ o: GlobalOptions, _ i: Institution) {
  printOutput(o, institutionTable([i]), json: [i])
  printWarnings(i.warnings)
  if o.output == .table {
    if !i.reasons.isEmpty { print("reasons: \(DisplayText.escaped(i.reasons.joined(separator: "; ")))") }
    if i.decisionDue.year != 0 { print("decision due by \(show(i.decisionDue))") }
  }
}

/// What the service accepted but flagged, on standard error (every output format).
func printWarnings(_ warnings: [Tuoyu_Common_V1_Warning]) {
  for w in warnings {
    FileHandle.standardError.write(
      Data("warning: \(DisplayText.escaped(w.message)) (rule \(DisplayText.escaped(w.rule)))\n".utf8))
  }
}

/// Flags of a change to one institution.
struct Target: ParsableArguments {
  @Argument(help: "The institution's unified social credit code.") var creditCode: String
  @Option(help: "Effective date YYYY-MM-DD (default today).") var date: String?
  @Option(help: "Idempotency key (default: a new UUID); repeat it to retry safely.") var requestId: String?
}

// MARK: Regions

struct Regions: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "List regions (a subtree with --root).")
  @OptionGroup var options: GlobalOptions
  @Option(help: "Root region code.") var root: String?
  @Option(help: "Year of the figures to show (default: latest).") var year: Int32?

  func run() async throws {
    let regions = await withClient(options, "registry") { c in
      try await allPages { token in
        let page = try await R.Client(c).listRegions(
          .with {
            $0.rootCode = root ?? ""
            $0.pageToken = token
          }, options: options.callOptions)
        return (page.regions, page.nextPageToken)
      }
    }
    var t = Table(["CODE", "NAME", "LEVEL", "PARENT", "YEAR", "POPULATION", "SEAT TARGET", "AVG FEE"])
    for r in regions {
      let y = year.flatMap { y in r.years.first { $0.year == y } } ?? r.years.last
      t.add([
        r.code, r.displayName, name(levelNames, r.level), r.parentCode,
        y.map { String($0.year) } ?? "", y.map { String($0.population) } ?? "", y.map { String($0.seatTarget) } ?? "",
        y.map { $0.averageMonthlyFee.fen == 0 ? "" : Yuan.string($0.averageMonthlyFee.fen) } ?? "",
      ])
    }
    printOutput(options, t, json: regions, asList: true)
  }
}

struct Region: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Show one region with its yearly figures.")
  @OptionGroup var options: GlobalOptions
  @Argument var code: String

  func run() async throws {
    let r = await withClient(options, "registry") {
      try await R.Client($0).getRegion(.with { $0.code = code }, options: options.callOptions)
    }
    var t = Table(["CODE", "NAME", "YEAR", "POPULATION", "SEAT TARGET", "AVG FEE"])
    for y in r.years {
      t.add([
        r.code, r.displayName, String(y.year), String(y.population), String(y.seatTarget),
        Yuan.string(y.averageMonthlyFee.fen),
      ])
    }
    if r.years.isEmpty { t.add([r.code, r.displayName, "", "", "", ""]) }
    printOutput(options, t, json: [r])
  }
}

struct PutRegion: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Create or rename a region and set a year's figures.")
  @OptionGroup var options: GlobalOptions
  @Option var code: String
  @Option var name: String
  @Option(help: "city, county or township.", completion: .list(levelNames.map(\.0))) var level: String
  @Option var parent: String?
  @Option var year: Int32?
  @Option var population: Int64?
  @Option var seatTarget: Int64?
  @Option(help: "Average monthly fee in yuan (counties).") var averageFee: String?
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      var req = Tuoyu_Registry_V1_PutRegionRequest()
      req.requestID = requestID(requestId)
      req.code = code
      req.displayName = name
      req.level = try lookup(levelNames, level, "--level")
      req.parentCode = parent ?? ""
      if let year {
        var y = Tuoyu_Registry_V1_RegionYear()
        y.year = year
        // Only the figures given change.
        if let population { y.population = population }
        if let seatTarget { y.seatTarget = seatTarget }
        if let averageFee { y.averageMonthlyFee.fen = try fen(averageFee, "--average-fee") }
        req.years = [y]
      }
      return req
    }
    let r = await withClient(options, "registry") {
      try await R.Client($0).putRegion(checked(req), options: options.callOptions)
    }
    printOutput(
      options,
      {
        var t = Table(["CODE", "NAME", "YEARS"]); t.add([r.code, r.displayName, String(r.years.count)]); return t
      }(), json: [r])
  }
}

/// CSV: code,name,level,parent,year,population,seat_target,average_fee_yuan — one line per region
/// and year (a region without figures leaves the last four empty).
struct ImportRegions: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import-regions", abstract: "Load regions and their yearly figures from CSV.")
  @OptionGroup var options: GlobalOptions
  @Argument(help: "The CSV file.", completion: .file(extensions: ["csv"])) var file: String

  func run() async throws {
    var requests: [String: Tuoyu_Registry_V1_PutRegionRequest] = [:]
    var order: [String] = []
    do {
      let text = try readTextFile(file, encoding: options.encoding)
      for (line, f) in try CSV.parse(text).dropFirst() {
        guard f.count == 8 else { throw CLIError("\(file):\(line): 8 columns expected, got \(f.count)", exitCode: 66) }
        if requests[f[0]] == nil {
          order.append(f[0])
          requests[f[0]] = .with {
            $0.code = f[0]
            $0.displayName = f[1]
            $0.parentCode = f[3]
          }
          requests[f[0]]!.level = try lookup(levelNames, f[2], "\(file):\(line) level")
        }
        if !f[4].isEmpty {
          // An empty cell leaves that figure as it is.
          guard let y = Int32(f[4]), f[5].isEmpty || Int64(f[5]) != nil, f[6].isEmpty || Int64(f[6]) != nil,
            f[7].isEmpty || Yuan.fen(f[7]) != nil
          else {
            throw CLIError("\(file):\(line): year, population, seat target and fee must be numbers", exitCode: 66)
          }
          requests[f[0]]!.years.append(
            .with {
              $0.year = y
              if let p = Int64(f[5]) { $0.population = p }
              if let t = Int64(f[6]) { $0.seatTarget = t }
              if let fee = Yuan.fen(f[7]), !f[7].isEmpty { $0.averageMonthlyFee.fen = fee }
            })
        }
      }
    } catch let e as CSV.ParseError {
      Tuoyu.fail(CLIError("\(file):\(e.line): \(e.message)", exitCode: 66))
    } catch { Tuoyu.fail(error) }
    await withClient(options, "registry") { c in
      for code in order {
        var req = requests[code]!
        // The same file loaded twice is the same request: a retry, not a second change.
        req.requestID =
          "import-regions:\(code):\(req.years.map { "\($0.year)/\($0.hasPopulation ? String($0.population) : "-")/\($0.hasSeatTarget ? String($0.seatTarget) : "-")/\($0.hasAverageMonthlyFee ? String($0.averageMonthlyFee.fen) : "-")" }.joined(separator: "_"))"
        _ = try await R.Client(c).putRegion(checked(req), options: options.callOptions)
      }
    }
    print("\(order.count) regions loaded from \(file)")
  }
}

// MARK: Lifecycle

struct Register: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Register an institution (registration authority).")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var target: Target
  @Option var name: String
  @Option(help: "non-profit or for-profit.", completion: .list(["non-profit", "for-profit"])) var legalNature: String
  @Option(help: "The registration authority, e.g. 湖州市吴兴区民政局.") var authority: String
  @Option(help: "9-digit township code.") var township: String
  @Option var address: String?

  func run() async throws {
    let req = parsed {
      var req = Tuoyu_Registry_V1_RegisterInstitutionRequest()
      req.requestID = requestID(target.requestId)
      req.creditCode = target.creditCode
      req.displayName = name
      req.legalNature = try lookup(
        [("non-profit", .nonProfit), ("for-profit", .forProfit)], legalNature, "--legal-nature")
      req.registrationAuthority = authority
      req.facts.townshipCode = township
      req.facts.address = address ?? ""
      req.effectiveDate = try date(target.date, "--date")
      return req
    }
    let i = await withClient(options, "registry") {
      try await R.Client($0).registerInstitution(checked(req), options: options.callOptions)
    }
    printInstitution(options, i)
  }
}

struct SubmitFiling: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Submit a filing (备案) with its materials.")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var target: Target
  @OptionGroup var facts: FactsOptions
  @Option(help: "Ownership certificate or lease (房产证/租赁合同): \(documentForm).") var siteProof: String?
  @Option(help: "The passed hygiene evaluation report (卫生评价): \(documentForm).") var hygieneEvaluation: String?
  @Option(help: "Fire-safety certificate (消防): \(documentForm).") var fireSafety: String?
  @Option(help: "Food business licence (食品经营许可), when meals are served: \(documentForm).") var foodLicence: String?
  @Option(help: "The staff's qualification certificates (资格证明): \(documentForm).") var staffQualifications: String?
  @Option(help: "The staff's health certificates (健康证明): \(documentForm).") var staffHealth: String?

  func run() async throws {
    let req = parsed {
      var req = Tuoyu_Registry_V1_SubmitFilingRequest()
      req.requestID = requestID(target.requestId)
      req.creditCode = target.creditCode
      req.facts = try facts.facts()
      req.materials = try .with {
        if let siteProof { $0.siteProof = try document(siteProof, "--site-proof") }
        if let hygieneEvaluation { $0.hygieneEvaluation = try document(hygieneEvaluation, "--hygiene-evaluation") }
        if let fireSafety { $0.fireSafety = try document(fireSafety, "--fire-safety") }
        if let foodLicence { $0.foodLicence = try document(foodLicence, "--food-licence") }
        if let staffQualifications {
          $0.staffQualifications = try document(staffQualifications, "--staff-qualifications")
        }
        if let staffHealth { $0.staffHealth = try document(staffHealth, "--staff-health") }
      }
      req.effectiveDate = try date(target.date, "--date")
      return req
    }
    let i = await withClient(options, "registry") {
      try await R.Client($0).submitFiling(checked(req), options: options.callOptions)
    }
    printInstitution(options, i)
  }
}

/// A change to what is filed, as a patch: only the facts given change.
struct ChangeFiling: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "change-filing",
    abstract: "Record a filing change (变更备案): only the facts given change.",
    discussion: """
      Starts from what is filed now and changes only the flags given; `--no-inclusive` or
      `--no-meals` turn a yes off, `0/0` removes a class, "" empties a text. Prints the
      difference; `--dry-run` prints it and changes nothing. If someone else changed the filing
      since it was read, nothing is changed and the command says so (exit 5): run it again.
      """)
  @OptionGroup var options: GlobalOptions
  @OptionGroup var target: Target
  @OptionGroup var facts: FactsOptions
  @Option var reason: String?
  @Flag(help: "Show the difference and change nothing.") var dryRun = false

  func run() async throws {
    let effective = parsed { try date(target.date, "--date") }
    let code = target.creditCode
    let current = await withClient(options, "registry") { c in
      try await R.Client(c).getInstitution(
        checked(Tuoyu_Registry_V1_GetInstitutionRequest.with { $0.creditCode = code }), options: options.callOptions)
    }
    let proposed = parsed { try facts.applied(to: current.facts) }
    let differences = factDifferences(current.facts, proposed)
    if differences.isEmpty {
      print("unchanged: \(code) already has these facts (version \(current.version))")
      return
    }
    print("\(code) version \(current.version) → \(dryRun ? "(dry run)" : String(current.version + 1)):")
    for d in differences { print("  " + d) }
    if dryRun {
      print("dry run: nothing was changed")
      return
    }
    var req = Tuoyu_Registry_V1_ChangeFilingRequest()
    req.requestID = requestID(target.requestId)
    req.creditCode = code
    req.facts = proposed
    req.reason = reason ?? ""
    req.effectiveDate = effective
    req.expectedVersion = current.version
    let i = await withClient(options, "registry") {
      try await R.Client($0).changeFiling(checked(req), options: options.callOptions)
    }
    printInstitution(options, i)
  }
}

struct File: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "File a submitted filing: checks pass, a receipt number is issued.")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var target: Target
  @Option(help: "Why the decision comes after its due date (required then).") var lateReason: String?

  func run() async throws {
    let req = parsed {
      try Tuoyu_Registry_V1_FileInstitutionRequest.with {
        $0.requestID = requestID(target.requestId)
        $0.creditCode = target.creditCode
        $0.effectiveDate = try date(target.date, "--date")
        $0.lateReason = lateReason ?? ""
      }
    }
    let i = await withClient(options, "registry") {
      try await R.Client($0).fileInstitution(checked(req), options: options.callOptions)
    }
    printInstitution(options, i)
  }
}

struct Refuse: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Refuse a submitted filing, with reasons.")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var target: Target
  @Option(help: "A reason (repeat for several).") var reason: [String] = []
  @Option(help: "Why the decision comes after its due date (required then).") var lateReason: String?

  func run() async throws {
    let req = parsed {
      try Tuoyu_Registry_V1_RefuseFilingRequest.with {
        $0.requestID = requestID(target.requestId)
        $0.creditCode = target.creditCode
        $0.reasons = reason
        $0.effectiveDate = try date(target.date, "--date")
        $0.lateReason = lateReason ?? ""
      }
    }
    let i = await withClient(options, "registry") {
      try await R.Client($0).refuseFiling(checked(req), options: options.callOptions)
    }
    printInstitution(options, i)
  }
}

/// Suspend, reinstate, revoke, close.
protocol ActionCommand: AsyncParsableCommand {
  var options: GlobalOptions { get }
  var target: Target { get }
  var reason: String? { get }
  static var method: MethodDescriptor { get }
}

extension ActionCommand {
  func run() async throws {
    let req = parsed {
      try Tuoyu_Registry_V1_InstitutionActionRequest.with {
        $0.requestID = requestID(target.requestId)
        $0.creditCode = target.creditCode
        $0.reason = reason ?? ""
        $0.effectiveDate = try date(target.date, "--date")
      }
    }
    let i: Institution = await withClient(options, "registry") {
      try await $0.unary(Self.method, request: checked(req), options: options.callOptions).message
    }
    printInstitution(options, i)
  }
}

struct Suspend: ActionCommand {
  static let configuration = CommandConfiguration(abstract: "Suspend a filed institution.")
  static var method: MethodDescriptor { R.Method.suspendInstitution }
  @OptionGroup var options: GlobalOptions
  @OptionGroup var target: Target
  @Option var reason: String?
}

struct Reinstate: ActionCommand {
  static let configuration = CommandConfiguration(abstract: "Reinstate a suspended institution.")
  static var method: MethodDescriptor { R.Method.reinstateInstitution }
  @OptionGroup var options: GlobalOptions
  @OptionGroup var target: Target
  @Option var reason: String?
}

struct Revoke: ActionCommand {
  static let configuration = CommandConfiguration(abstract: "Revoke a filing (terminal).")
  static var method: MethodDescriptor { R.Method.revokeInstitution }
  @OptionGroup var options: GlobalOptions
  @OptionGroup var target: Target
  @Option var reason: String?
}

struct Close: ActionCommand {
  static let configuration = CommandConfiguration(abstract: "Record that an institution closed (terminal).")
  static var method: MethodDescriptor { R.Method.closeInstitution }
  @OptionGroup var options: GlobalOptions
  @OptionGroup var target: Target
  @Option var reason: String?
}

// MARK: Queries

struct Get: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Show an institution (as of a past day with --as-of).")
  @OptionGroup var options: GlobalOptions
  @Argument var creditCode: String
  @Option(help: "YYYY-MM-DD.") var asOf: String?

  func run() async throws {
    let req = parsed {
      try Tuoyu_Registry_V1_GetInstitutionRequest.with {
        $0.creditCode = creditCode
        $0.asOf = try date(asOf, "--as-of")
      }
    }
    let i = await withClient(options, "registry") {
      try await R.Client($0).getInstitution(checked(req), options: options.callOptions)
    }
    printInstitution(options, i)
  }
}

/// One institution, vertically, as an approver reads it before deciding.
struct Describe: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show one institution in full: facts, materials, regions by name, due date, the last change.")
  @OptionGroup var options: GlobalOptions
  @Argument var creditCode: String

  func run() async throws {
    let code = creditCode
    let (i, history, county, township) = await withClient(options, "registry") { c in
      let client = R.Client(c)
      let i = try await client.getInstitution(
        checked(Tuoyu_Registry_V1_GetInstitutionRequest.with { $0.creditCode = code }), options: options.callOptions)
      let history = try await client.listInstitutionHistory(
        checked(Tuoyu_Registry_V1_ListInstitutionHistoryRequest.with { $0.creditCode = code }),
        options: options.callOptions)
      func regionName(_ code: String) async -> String {
        guard !code.isEmpty,
          let r = try? await client.getRegion(
            Tuoyu_Registry_V1_GetRegionRequest.with { $0.code = code }, options: options.callOptions)
        else { return "" }
        return r.displayName
      }
      return (i, history.versions, await regionName(i.countyCode), await regionName(i.facts.townshipCode))
    }
    if options.output != .table {
      printInstitution(options, i)
      return
    }
    var rows: [(String, String)] = [
      ("status 状态", "\(name(statusNames, i.status)) since \(show(i.effectiveDate)), version \(i.version)"),
      ("filing no. 备案编号", i.filingNumber.isEmpty ? "-" : i.filingNumber),
      (
        "legal nature 法人性质",
        i.legalNature == .nonProfit ? "non-profit 非营利" : i.legalNature == .forProfit ? "for-profit 营利" : "-"
      ),
      ("authority 登记机关", DisplayText.escaped(i.registrationAuthority)),
      ("county 区县", "\(i.countyCode) \(DisplayText.escaped(county))"),
    ]
    for (label, value) in factLines(i.facts) {
      rows.append(label.hasPrefix("township") ? (label, "\(value) \(DisplayText.escaped(township))") : (label, value))
    }
    rows.append(("seats 托位合计", String(i.facts.seats.total)))
    let m = i.materials
    rows += [
      ("site proof 场地证明", showDocument(m.siteProof)),
      ("hygiene 卫生评价", showDocument(m.hygieneEvaluation)),
      ("fire safety 消防", showDocument(m.fireSafety)),
      ("food licence 食品许可", showDocument(m.foodLicence)),
      ("staff qualifications 资格证明", showDocument(m.staffQualifications)),
      ("staff health 健康证明", showDocument(m.staffHealth)),
    ]
    for w in i.warnings {
      rows.append(("warning 提示", "\(DisplayText.escaped(w.message)) (rule \(DisplayText.escaped(w.rule)))"))
    }
    if i.decisionDue.year != 0 {
      let overdue = LocalDay.today() > LocalDay(i.decisionDue)
      rows.append(("decision due 办结期限", show(i.decisionDue) + (overdue ? "  OVERDUE" : "")))
    }
    if !i.reasons.isEmpty { rows.append(("reasons 理由", DisplayText.escaped(i.reasons.joined(separator: "; ")))) }
    print("\(i.creditCode)  \(DisplayText.escaped(i.displayName))")
    let width = rows.map { $0.0.count }.max() ?? 0
    for (label, value) in rows {
      print("  " + label + String(repeating: " ", count: width - label.count + 2) + value)
    }
    if history.count >= 2 {
      let last = history[history.count - 1]
      let before = history[history.count - 2]
      print(
        "last change: version \(last.version), \(last.event) on \(show(last.effectiveDate)) by \(DisplayText.escaped(last.recordedBy))"
      )
      let differences = factDifferences(before.institution.facts, last.institution.facts)
      if before.institution.status != last.institution.status {
        print(
          "  status: \(name(statusNames, before.institution.status)) → \(name(statusNames, last.institution.status))")
      }
      for d in differences { print("  " + d) }
    }
  }
}

/// The approver's work queue: filings waiting for a decision, the most urgent first.
struct Pending: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List filings waiting for a decision, by due date; overdue ones are marked.")
  @OptionGroup var options: GlobalOptions
  @Option(help: "Region subtree: city, county or township code.") var region: String?

  func run() async throws {
    let region = self.region ?? ""
    let all: [Institution] = await withClient(options, "registry") { c in
      try await allPages { token in
        let page = try await R.Client(c).listInstitutions(
          checked(
            Tuoyu_Registry_V1_ListInstitutionsRequest.with {
              $0.regionCode = region
              $0.status = .filingSubmitted
              $0.pageSize = 500
              $0.pageToken = token
            }), options: options.callOptions)
        return (page.institutions, page.nextPageToken)
      }
    }
    let today = LocalDay.today()
    let sorted = all.sorted { (LocalDay($0.decisionDue), $0.creditCode) < (LocalDay($1.decisionDue), $1.creditCode) }
    var t = Table(["DUE", "OVERDUE", "CREDIT CODE", "NAME", "TOWNSHIP", "SUBMITTED"])
    var overdue = 0
    for i in sorted {
      let late = today > LocalDay(i.decisionDue)
      if late { overdue += 1 }
      t.add([
        show(i.decisionDue), late ? "yes" : "", i.creditCode, i.displayName, i.facts.townshipCode,
        show(i.effectiveDate),
      ])
    }
    printOutput(options, t, json: sorted, asList: true)
    if options.output == .table { print("\(sorted.count) waiting, \(overdue) overdue") }
  }
}

/// A civil day for comparisons (today in China Standard Time).
struct LocalDay: Comparable {
  let ordinal: Int
  init(_ d: Tuoyu_Common_V1_Date) { ordinal = Int(d.year) * 10000 + Int(d.month) * 100 + Int(d.day) }
  static func today() -> LocalDay {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(secondsFromGMT: 8 * 3600)!
    let c = calendar.dateComponents([.year, .month, .day], from: Date())
    return LocalDay(
      .with {
        $0.year = Int32(c.year!)
        $0.month = Int32(c.month!)
        $0.day = Int32(c.day!)
      })
  }
  static func < (a: LocalDay, b: LocalDay) -> Bool { a.ordinal < b.ordinal }
}

struct List: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List institutions (every page unless --page-size).",
    discussion: """
      Several --mode or --status flags (or comma-separated values) mean any of them. With -o csv
      the columns are the import's (see `tuoyu registry import --help`), so a list exported,
      edited and imported goes back in.
      """)
  @OptionGroup var options: GlobalOptions
  @Option(help: "Region subtree: city, county or township code.") var region: String?
  @Option(
    help: ArgumentHelp("Service mode; repeat for any of several.", valueName: "mode"),
    completion: .list(modeNames.map(\.0)))
  var mode: [String] = []
  @Option(
    help: ArgumentHelp("Status; repeat for any of several.", valueName: "status"),
    completion: .list(statusNames.map(\.0)))
  var status: [String] = []
  @Flag(help: "Only 普惠.") var inclusive = false
  @Option(help: "YYYY-MM-DD.") var asOf: String?
  @Option(help: "One page of this size (then prints the next page token).") var pageSize: Int32?
  @Option var pageToken: String?

  func run() async throws {
    let req = parsed {
      var req = Tuoyu_Registry_V1_ListInstitutionsRequest()
      req.regionCode = region ?? ""
      req.modes = try mode.flatMap { $0.split(separator: ",") }.map { try lookup(modeNames, String($0), "--mode") }
      req.statuses = try status.flatMap { $0.split(separator: ",") }.map {
        try lookup(statusNames, String($0), "--status")
      }
      req.inclusiveOnly = inclusive
      req.asOf = try date(asOf, "--as-of")
      req.pageSize = pageSize ?? 500
      req.pageToken = pageToken ?? ""
      return req
    }
    let (all, next) = await withClient(options, "registry") { c in
      var all: [Institution] = []
      var r = req
      while true {
        let page = try await R.Client(c).listInstitutions(r, options: options.callOptions)
        all += page.institutions
        if pageSize != nil || page.nextPageToken.isEmpty { return (all, page.nextPageToken) }
        r.pageToken = page.nextPageToken
      }
    }
    if options.output == .csv {
      // The import's columns: export, edit, import.
      var t = Table(Import.exportColumns)
      for i in all { t.add(Import.exportRow(i)) }
      printOutput(options, t, json: all, asList: true)
    } else {
      printOutput(options, institutionTable(all), json: all, asList: true)
    }
    if !next.isEmpty { FileHandle.standardError.write(Data("next page: --page-token \(next)\n".utf8)) }
  }
}

struct History: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "An institution's history, oldest first.")
  @OptionGroup var options: GlobalOptions
  @Argument var creditCode: String
  @Option(help: "Only what was in effect by this day, YYYY-MM-DD.") var asOf: String?

  func run() async throws {
    let req = parsed {
      try Tuoyu_Registry_V1_ListInstitutionHistoryRequest.with {
        $0.creditCode = creditCode
        $0.asOf = try date(asOf, "--as-of")
      }
    }
    let h = await withClient(options, "registry") {
      try await R.Client($0).listInstitutionHistory(checked(req), options: options.callOptions)
    }
    var t = Table(["VERSION", "EVENT", "EFFECTIVE", "RECORDED", "BY", "STATUS", "SEATS", "普惠", "FEE", "REASONS"])
    for v in h.versions {
      let i = v.institution
      t.add([
        String(v.version), v.event, show(v.effectiveDate), v.recordedAt, v.recordedBy, name(statusNames, i.status),
        String(i.facts.seats.total), i.facts.inclusive ? "yes" : "no",
        i.facts.monthlyFee.fen == 0 ? "" : Yuan.string(i.facts.monthlyFee.fen), i.reasons.joined(separator: "; "),
      ])
    }
    printOutput(options, t, json: [h])
  }
}

struct Public: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "The public disclosure listing (no token needed).")
  @OptionGroup var options: GlobalOptions
  @Option var region: String?

  func run() async throws {
    let all = await withClient(options, "registry") { c in
      try await allPages { token in
        let page = try await R.Client(c).listPublicInstitutions(
          .with {
            $0.regionCode = region ?? ""
            $0.pageToken = token
            $0.pageSize = 500
          }, options: options.callOptions)
        return (page.institutions, page.nextPageToken)
      }
    }
    var t = Table(["NAME", "FILING NO.", "ADDRESS", "MODE", "普惠", "SEATS", "FEE BAND"])
    for p in all {
      t.add([
        p.displayName, p.filingNumber, p.address, name(modeNames, p.mode), p.inclusive ? "yes" : "no", String(p.seats),
        p.feeBand,
      ])
    }
    printOutput(options, t, json: all, asList: true)
  }
}

struct Rules: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "The rule pack: values with their effective dates.")
  @OptionGroup var options: GlobalOptions

  func run() async throws {
    let r = await withClient(options, "registry") {
      try await R.Client($0).listRuleValues(.init(), options: options.callOptions)
    }
    var t = Table(["KEY", "REGION", "FROM", "VALUE", "SOURCE"])
    for v in r.values {
      t.add([v.key, v.regionCode.isEmpty ? "national" : v.regionCode, show(v.effectiveFrom), String(v.value), v.source])
    }
    printOutput(options, t, json: [r])
  }
}

struct PutRule: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Set a rule value from a date (a local one with --region).")
  @OptionGroup var options: GlobalOptions
  @Option var key: String
  @Option var region: String?
  @Option(help: "YYYY-MM-DD.") var from: String
  @Option var value: Int32
  @Option var source: String?
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try Tuoyu_Registry_V1_PutRuleValueRequest.with {
        $0.requestID = requestID(requestId)
        $0.value = try .with {
          $0.key = key
          $0.regionCode = region ?? ""
          $0.effectiveFrom = try date(from, "--from")
          $0.value = value
          $0.source = source ?? ""
        }
      }
    }
    let v = await withClient(options, "registry") {
      try await R.Client($0).putRuleValue(checked(req), options: options.callOptions)
    }
    var t = Table(["KEY", "REGION", "FROM", "VALUE"])
    t.add([v.key, v.regionCode.isEmpty ? "national" : v.regionCode, show(v.effectiveFrom), String(v.value)])
    printOutput(options, t, json: [v])
  }
}

struct Indicators: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Year-end indicators per city and county.")
  @OptionGroup var options: GlobalOptions
  @Option var year: Int32
  @Option(help: "City or county code (default: the city).") var region: String?

  func run() async throws {
    let r = await withClient(options, "registry") {
      try await R.Client($0).getIndicators(
        .with {
          $0.year = year
          $0.regionCode = region ?? ""
        }, options: options.callOptions)
    }
    // Machine outputs keep numbers (0 where unknown); the table says n/a and what the plan asks.
    let forPeople = options.output == .table
    var t = Table([
      "REGION", "NAME", "POPULATION", "INSTITUTIONS", "SEATS", "PER 1000", "普惠 SEATS", "普惠 SHARE", "TOWNSHIPS",
      "COVERED", "普惠 COVERED", "TARGET", "PROGRESS",
    ])
    for x in r.regions {
      let perThousand =
        forPeople && x.population == 0
        ? "n/a"
        : String(format: "%.2f", x.seatsPerThousand)
          + (forPeople ? (x.seatsPerThousand >= Plan.seatsPerThousand ? " ✓" : " <\(Int(Plan.seatsPerThousand))") : "")
      let share =
        String(format: "%.1f%%", x.inclusiveShare * 100)
        + (forPeople && x.seats > 0 ? (x.inclusiveShare >= Plan.inclusiveShare ? " ✓" : " <89%") : "")
      t.add([
        x.regionCode, x.regionName, forPeople && x.population == 0 ? "n/a" : String(x.population),
        String(x.institutions), String(x.seats), perThousand, String(x.inclusiveSeats), share,
        String(x.townships), String(x.townshipsCovered), String(x.townshipsInclusiveCovered), String(x.seatTarget),
        x.seatTarget == 0 ? "" : String(format: "%.1f%%", x.targetProgress * 100),
      ])
    }
    if forPeople { print("indicators for \(year), as of \(show(r.asOf))") }
    printOutput(options, t, json: [r])
    guard forPeople else { return }
    print(
      "plan: \(Int(Plan.seatsPerThousand)) seats per 1,000 residents and \(Int(Plan.inclusiveShare * 100))% of seats 普惠 (✓ met, < below)"
    )
    var warnings: [String] = []
    if year >= Int32(LocalDay.today().ordinal / 10000) {
      warnings.append("\(year) is not over: the figures are what is filed now, not the year's end")
    }
    for x in r.regions where x.population == 0 {
      warnings.append(
        "no population for \(x.regionCode) \(x.regionName) in \(year): seats per 1,000 is n/a (set it with put-region)")
    }
    for w in warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
    // The townships coverage work goes to next (per county; the city row repeats them all).
    for x in r.regions
    where !x.uncoveredTownships.isEmpty && (r.regions.count == 1 || x.regionCode != r.regions[0].regionCode) {
      let list = x.uncoveredTownships.map { "\($0.code) \(DisplayText.escaped($0.name))" }.joined(separator: ", ")
      print("uncovered in \(x.regionName) (\(x.uncoveredTownships.count)): \(list)")
    }
  }

  /// The plan's targets (托育服务发展规划: 4.5 seats per 1,000 by 2025 nationally, 5 in Huzhou; 89% of
  /// seats 普惠).
  enum Plan {
    static let seatsPerThousand = 5.0
    static let inclusiveShare = 0.89
  }
}

/// The working-day calendar (holidays and make-up working days) deadlines are counted in.
struct CalendarCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "calendar", abstract: "List a year's public holidays and make-up working days.")
  @OptionGroup var options: GlobalOptions
  @Option(help: "Year (default this year).") var year: Int32?

  func run() async throws {
    let req = Tuoyu_Registry_V1_ListCalendarDaysRequest.with {
      $0.year = year ?? Int32(LocalDay.today().ordinal / 10000)
    }
    let r = await withClient(options, "registry") {
      try await R.Client($0).listCalendarDays(checked(req), options: options.callOptions)
    }
    var t = Table(["DAY", "KIND", "NAME", "SOURCE"])
    for d in r.days { t.add([show(d.day), d.kind == .workday ? "workday" : "holiday", d.name, d.source]) }
    printOutput(options, t, json: r.days, asList: true)
  }
}

struct PutCalendarDay: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "put-calendar-day",
    abstract: "Mark a day a holiday (法定节假日) or a make-up working day (调休上班), or back to normal.")
  @OptionGroup var options: GlobalOptions
  @Option(help: "YYYY-MM-DD.") var day: String
  @Option(help: "holiday, workday or normal.", completion: .list(["holiday", "workday", "normal"])) var kind: String
  @Option var name: String?
  @Option(help: "The notice it comes from.") var source: String?
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try Tuoyu_Registry_V1_PutCalendarDayRequest.with {
        $0.requestID = requestID(requestId)
        $0.day = try .with {
          $0.day = try date(day, "--day")
          $0.kind = try lookup(
            [("holiday", Tuoyu_Registry_V1_CalendarDayKind.holiday), ("workday", .workday), ("normal", .normal)], kind,
            "--kind")
          $0.name = name ?? ""
          $0.source = source ?? ""
        }
      }
    }
    let d = await withClient(options, "registry") {
      try await R.Client($0).putCalendarDay(checked(req), options: options.callOptions)
    }
    print("\(show(d.day)): \(kind)")
  }
}
