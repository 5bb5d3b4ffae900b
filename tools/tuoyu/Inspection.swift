import API
import ArgumentParser
import Foundation
import InspectionAPI
import RPC
import RegistryAPI

typealias IN = Tuoyu_Inspection_V1_Inspections

struct InspectionCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "inspection",
    abstract: "Inspections, rectification, credit grades and acceptance of new seats (tuoyu-inspection).",
    subcommands: [
      ChecklistShow.self, PublishChecklist.self, Record.self, Results.self, Finalise.self, InspectionShow.self,
      InspectionList.self, Orders.self, OrderReport.self, OrderVerify.self, OrderReject.self, GradeShow.self,
      Grades.self, Accept.self, Confirm.self, Acceptances.self, ProvinceExport.self, PutPlan.self, Coverage.self,
      PutDeadlineRulesCommand.self,
      PutCreditRulesCommand.self,
      Watch<InspectionFeed>.self,
    ])
}

let levelNamesI = Tuoyu_Inspection_V1_Level.plainNames
let kindNames = Tuoyu_Inspection_V1_Kind.plainNames
let severityNames = Tuoyu_Inspection_V1_Severity.plainNames
let categoryNames = Tuoyu_Inspection_V1_Category.plainNames
let departmentNames = Tuoyu_Inspection_V1_Department.plainNames
let outcomeNames = Tuoyu_Inspection_V1_Outcome.plainNames
let orderStatusNames = Tuoyu_Inspection_V1_OrderStatus.plainNames

// MARK: Checklists

struct ChecklistShow: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "checklist", abstract: "Show a checklist version (default the latest).")
  @OptionGroup var options: GlobalOptions
  @Option var version: Int32 = 0

  func run() async throws {
    let c = await withClient(options, "inspection") {
      try await IN.Client($0).getChecklist(.with { $0.version = version }, options: options.callOptions)
    }
    var t = Table(["CODE", "CATEGORY", "SEVERITY", "ITEM"])
    for i in c.items { t.add([i.code, name(categoryNames, i.category), name(severityNames, i.severity), i.text]) }
    if options.output == .table { print("checklist version \(c.version): \(DisplayText.escaped(c.title))") }
    printOutput(options, t, json: [c])
  }
}

struct PublishChecklist: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "publish-checklist",
    abstract: "Publish the next checklist version from CSV (columns code, category, severity, text).")
  @OptionGroup var options: GlobalOptions
  @Argument(help: "The CSV file.", completion: .file(extensions: ["csv"])) var file: String
  @Option var title: String
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      let records = try CSV.parse(try readTextFile(file, encoding: options.encoding))
      guard let header = records.first?.fields.map({ $0.lowercased() }),
        let code = header.firstIndex(of: "code"), let category = header.firstIndex(of: "category"),
        let severity = header.firstIndex(of: "severity"), let text = header.firstIndex(of: "text")
      else { throw CLIError("\(file): the columns are code, category, severity, text", exitCode: 66) }
      return try checked(
        Tuoyu_Inspection_V1_PublishChecklistRequest.with {
          $0.requestID = requestID(requestId)
          $0.title = title
          $0.items = try records.dropFirst().map { line, f in
            guard f.count > max(code, category, severity, text) else {
              throw CLIError("\(file):\(line): too few fields")
            }
            return try .with {
              $0.code = f[code]
              $0.category = try lookup(categoryNames, f[category], "category (line \(line))")
              $0.severity = try lookup(severityNames, f[severity], "severity (line \(line))")
              $0.text = f[text]
            }
          }
        })
    }
    let c = await withClient(options, "inspection") {
      try await IN.Client($0).publishChecklist(req, options: options.callOptions)
    }
    print("published checklist version \(c.version) with \(c.items.count) items")
  }
}

// MARK: Inspections

/// Results as flags: every item of the checklist passes (`--pass-all`) but those failed or not
/// applicable; `--fail CODE[=NOTE]`.
struct ResultOptions: ParsableArguments {
  @Flag(help: "Every checklist item not named otherwise passes.") var passAll = false
  @Option(help: "An item that passes (repeatable).") var pass: [String] = []
  @Option(help: "A failed item: CODE or CODE=NOTE (repeatable); its severity is the checklist's.") var fail: [String] =
    []
  @Option(help: "An item that does not apply (repeatable).") var notApplicable: [String] = []

  func results(_ checklist: Tuoyu_Inspection_V1_Checklist?) -> [Tuoyu_Inspection_V1_ItemResult] {
    var out: [String: Tuoyu_Inspection_V1_ItemResult] = [:]
    var order: [String] = []
    func put(_ code: String, _ outcome: Tuoyu_Inspection_V1_Outcome, _ note: String = "") {
      if out[code] == nil { order.append(code) }
      out[code] = .with {
        $0.code = code
        $0.outcome = outcome
        $0.note = note
      }
    }
    if passAll, let checklist { for i in checklist.items { put(i.code, .pass) } }
    for c in pass { put(c, .pass) }
    for c in notApplicable { put(c, .notApplicable) }
    for f in fail {
      let parts = f.split(separator: "=", maxSplits: 1).map(String.init)
      put(parts[0], .fail, parts.count > 1 ? parts[1] : "")
    }
    return order.compactMap { out[$0] }
  }
}

func inspectionTable(_ list: [Tuoyu_Inspection_V1_Inspection]) -> Table {
  var t = Table([
    "INSPECTION", "CREDIT CODE", "NAME", "LEVEL", "KIND", "DATE", "INSPECTORS", "FINALISED", "MINOR", "MAJOR",
    "CRITICAL",
  ])
  for i in list {
    t.add([
      String(i.inspectionID), i.creditCode, i.institutionName, name(levelNamesI, i.level), name(kindNames, i.kind),
      show(i.inspectedOn), i.inspectors.joined(separator: "、"), i.finalised ? "yes" : "draft", String(i.minorFailures),
      String(i.majorFailures), String(i.criticalFailures),
    ])
  }
  return t
}

func printInspection(_ o: GlobalOptions, _ i: Tuoyu_Inspection_V1_Inspection, results: Bool = false) {
  printOutput(o, inspectionTable([i]), json: [i])
  guard results, o.output == .table, !i.results.isEmpty else { return }
  var t = Table(["ITEM", "OUTCOME", "SEVERITY", "NOTE"])
  for r in i.results {
    t.add([
      r.code, name(outcomeNames, r.outcome), r.severity == .unspecified ? "" : name(severityNames, r.severity), r.note,
    ])
  }
  print("\n" + t.render(.table) { "" })
}

struct Record: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Record an inspection on the latest checklist (--finalise closes it at once).")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var results: ResultOptions
  @Option(help: "The institution's credit code.") var at: String
  @Option(help: "city, county or township.", completion: .list(levelNamesI.map(\.0))) var level: String
  @Option(
    help: "routine-patrol, hygiene-check, quality-evaluation, acceptance-evaluation or complaint-investigation.",
    completion: .list(kindNames.map(\.0)))
  var kind: String
  @Option(help: "The day, YYYY-MM-DD (default today).") var date: String?
  @Option(help: "An inspector's name (repeatable).") var inspector: [String] = []
  @Option(help: "A co-inspecting department: fire, market-regulation, police, emergency-management (repeatable).")
  var coDepartment: [String] = []
  @Option(help: "The inspection this one corrects.") var corrects: Int64?
  @Flag(help: "Finalise it at once (every item must have a result).") var finalise = false
  @Option var requestId: String?

  func run() async throws {
    let id = requestID(requestId)
    let i = await withClient(options, "inspection") { c in
      let client = IN.Client(c)
      let checklist = results.passAll ? try await client.getChecklist(.init(), options: options.callOptions) : nil
      let req = try checked(
        Tuoyu_Inspection_V1_RecordInspectionRequest.with {
          $0.requestID = id
          $0.creditCode = at
          $0.level = try lookup(levelNamesI, level, "--level")
          $0.kind = try lookup(kindNames, kind, "--kind")
          $0.inspectedOn = try parseDate(date, "--date")
          $0.inspectors = inspector
          $0.coDepartments = try coDepartment.map { try lookup(departmentNames, $0, "--co-department") }
          $0.results = results.results(checklist)
          $0.correctsInspectionID = corrects ?? 0
        })
      var i = try await client.recordInspection(req, options: options.callOptions)
      if finalise {
        i = try await client.finaliseInspection(
          .with {
            $0.requestID = id + ":finalise"
            $0.inspectionID = i.inspectionID
          }, options: options.callOptions)
      }
      return i
    }
    printInspection(options, i)
  }
}

struct Results: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Record results of a draft inspection.")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var results: ResultOptions
  @Argument var inspection: Int64
  @Option var requestId: String?

  func run() async throws {
    let id = requestID(requestId)
    let i = await withClient(options, "inspection") { c in
      let client = IN.Client(c)
      let draft = try await client.getInspection(.with { $0.inspectionID = inspection }, options: options.callOptions)
      let checklist =
        results.passAll
        ? try await client.getChecklist(.with { $0.version = draft.checklistVersion }, options: options.callOptions)
        : nil
      return try await client.recordResults(
        checked(
          .with {
            $0.requestID = id
            $0.inspectionID = inspection
            $0.results = results.results(checklist)
          }), options: options.callOptions)
    }
    printInspection(options, i, results: true)
  }
}

struct Finalise: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Finalise an inspection: no edits after; failures get rectification orders; a critical one suspends.")
  @OptionGroup var options: GlobalOptions
  @Argument var inspection: Int64
  @Option var requestId: String?

  func run() async throws {
    let i = await withClient(options, "inspection") {
      try await IN.Client($0).finaliseInspection(
        .with {
          $0.requestID = requestID(requestId)
          $0.inspectionID = inspection
        }, options: options.callOptions)
    }
    printInspection(options, i)
  }
}

struct InspectionShow: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "show", abstract: "Show an inspection with its results.")
  @OptionGroup var options: GlobalOptions
  @Argument var inspection: Int64

  func run() async throws {
    let i = await withClient(options, "inspection") {
      try await IN.Client($0).getInspection(.with { $0.inspectionID = inspection }, options: options.callOptions)
    }
    printInspection(options, i, results: true)
  }
}

struct InspectionList: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "list", abstract: "List inspections.")
  @OptionGroup var options: GlobalOptions
  @Option var at: String?
  @Option var region: String?
  @Option var year: Int32?

  func run() async throws {
    let list = await withClient(options, "inspection") { c in
      try await allPages { token in
        let page = try await IN.Client(c).listInspections(
          checked(
            .with {
              $0.creditCode = at ?? ""
              $0.regionCode = region ?? ""
              $0.year = year ?? 0
              $0.pageSize = 500
              $0.pageToken = token
            }), options: options.callOptions)
        return (page.inspections, page.nextPageToken)
      }
    }
    printOutput(options, inspectionTable(list), json: list, asList: true)
  }
}

// MARK: Orders

func orderTable(_ list: [Tuoyu_Inspection_V1_Order]) -> Table {
  var t = Table([
    "ORDER", "INSPECTION", "CREDIT CODE", "ITEM", "SEVERITY", "DEADLINE", "STATUS", "REPORTED", "VERIFIED", "OVERDUE",
  ])
  for o in list {
    t.add([
      String(o.orderID), String(o.inspectionID), o.creditCode, o.itemCode, name(severityNames, o.severity),
      show(o.deadline), name(orderStatusNames, o.status), show(o.reportedOn), show(o.verifiedOn),
      o.overdue ? "OVERDUE" : "",
    ])
  }
  return t
}

struct Orders: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Rectification orders, overdue as of a day.")
  @OptionGroup var options: GlobalOptions
  @Option var at: String?
  @Option var region: String?
  @Option(help: "Overdue as of this day (default today).") var asOf: String?
  @Flag(help: "Only the overdue ones.") var overdue = false
  @Flag(help: "Include verified orders.") var all = false

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Inspection_V1_ListOrdersRequest.with {
          $0.creditCode = at ?? ""
          $0.regionCode = region ?? ""
          $0.asOf = try parseDate(asOf, "--as-of")
          $0.onlyOverdue = overdue
          $0.includeVerified = all
        })
    }
    let r = await withClient(options, "inspection") {
      try await IN.Client($0).listOrders(req, options: options.callOptions)
    }
    printOutput(options, orderTable(r.orders), json: r.orders, asList: true)
  }
}

struct OrderStepOptions: ParsableArguments {
  @Argument var order: Int64
  @Option(help: "The day, YYYY-MM-DD (default today).") var date: String?
  @Option var note: String?
  @Option var requestId: String?

  func request() throws -> Tuoyu_Inspection_V1_OrderStepRequest {
    try checked(
      .with {
        $0.requestID = requestID(requestId)
        $0.orderID = order
        $0.on = try parseDate(date, "--date")
        $0.note = note ?? ""
      })
  }
}

struct OrderReport: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "report", abstract: "Report an order rectified.")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var step: OrderStepOptions

  func run() async throws {
    let req = parsed { try step.request() }
    let o = await withClient(options, "inspection") {
      try await IN.Client($0).reportRectified(req, options: options.callOptions)
    }
    printOutput(options, orderTable([o]), json: [o])
  }
}

struct OrderVerify: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "verify", abstract: "Verify a reported rectification.")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var step: OrderStepOptions

  func run() async throws {
    let req = parsed { try step.request() }
    let o = await withClient(options, "inspection") {
      try await IN.Client($0).verifyRectification(req, options: options.callOptions)
    }
    printOutput(options, orderTable([o]), json: [o])
  }
}

struct OrderReject: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "reject", abstract: "Reject a reported rectification (open again).")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var step: OrderStepOptions

  func run() async throws {
    let req = parsed { try step.request() }
    let o = await withClient(options, "inspection") {
      try await IN.Client($0).rejectRectification(req, options: options.callOptions)
    }
    printOutput(options, orderTable([o]), json: [o])
  }
}

// MARK: Grades

func gradeTable(_ list: [Tuoyu_Inspection_V1_Grade]) -> Table {
  var t = Table(["CREDIT CODE", "NAME", "COUNTY", "AS OF", "SCORE", "GRADE", "MINOR", "MAJOR", "CRITICAL", "OVERDUE"])
  for g in list {
    t.add([
      g.creditCode, g.institutionName, g.countyCode, show(g.asOf), String(g.score), g.grade, String(g.minorFailures),
      String(g.majorFailures), String(g.criticalFailures), String(g.overdueOrders),
    ])
  }
  return t
}

struct GradeShow: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "grade", abstract: "An institution's credit grade (诚信评价).")
  @OptionGroup var options: GlobalOptions
  @Argument var creditCode: String
  @Option var asOf: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Inspection_V1_GetGradeRequest.with {
          $0.creditCode = creditCode
          $0.asOf = try parseDate(asOf, "--as-of")
        })
    }
    let g = await withClient(options, "inspection") {
      try await IN.Client($0).getGrade(req, options: options.callOptions)
    }
    printOutput(options, gradeTable([g]), json: [g])
  }
}

struct Grades: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Credit grades of a county's or the city's filed institutions.")
  @OptionGroup var options: GlobalOptions
  @Option var region: String
  @Option var asOf: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Inspection_V1_ListGradesRequest.with {
          $0.regionCode = region
          $0.asOf = try parseDate(asOf, "--as-of")
        })
    }
    let r = await withClient(options, "inspection") {
      try await IN.Client($0).listGrades(req, options: options.callOptions)
    }
    printOutput(options, gradeTable(r.grades), json: r.grades, asList: true)
  }
}

// MARK: Acceptance

func acceptanceTable(_ list: [Tuoyu_Inspection_V1_Acceptance]) -> Table {
  var t = Table(["ACCEPTANCE", "YEAR", "CREDIT CODE", "NAME", "COUNTY", "ACCEPTED", "CONFIRMED", "STATUS", "REASON"])
  for a in list {
    t.add([
      String(a.acceptanceID), String(a.year), a.creditCode, a.institutionName, a.countyCode, String(a.acceptedSeats),
      a.status == .cityConfirmed ? String(a.confirmedSeats) : "",
      name(Tuoyu_Inspection_V1_AcceptanceStatus.plainNames, a.status),
      a.adjustmentReason,
    ])
  }
  return t
}

struct Accept: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "The county accepts new 普惠 seats on a finalised acceptance evaluation.")
  @OptionGroup var options: GlobalOptions
  @Option var inspection: Int64
  @Option var year: Int32
  @Option var seats: Int32
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Inspection_V1_AcceptSeatsRequest.with {
          $0.requestID = requestID(requestId)
          $0.inspectionID = inspection
          $0.year = year
          $0.seats = seats
        })
    }
    let a = await withClient(options, "inspection") {
      try await IN.Client($0).acceptSeats(req, options: options.callOptions)
    }
    printOutput(options, acceptanceTable([a]), json: [a])
  }
}

struct Confirm: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "The city confirms the county's accepted seats (复核), or adjusts them down with --reason.")
  @OptionGroup var options: GlobalOptions
  @Argument var acceptance: Int64
  @Option(help: "Seats confirmed.") var seats: Int32
  @Option var reason: String?
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Inspection_V1_ConfirmAcceptanceRequest.with {
          $0.requestID = requestID(requestId)
          $0.acceptanceID = acceptance
          $0.confirmedSeats = seats
          $0.reason = reason ?? ""
        })
    }
    let a = await withClient(options, "inspection") {
      try await IN.Client($0).confirmAcceptance(req, options: options.callOptions)
    }
    printOutput(options, acceptanceTable([a]), json: [a])
  }
}

struct Acceptances: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Acceptances of a year.")
  @OptionGroup var options: GlobalOptions
  @Option var year: Int32
  @Option var region: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Inspection_V1_ListAcceptancesRequest.with {
          $0.year = year
          $0.regionCode = region ?? ""
        })
    }
    let r = await withClient(options, "inspection") {
      try await IN.Client($0).listAcceptances(req, options: options.callOptions)
    }
    printOutput(options, acceptanceTable(r.acceptances), json: r.acceptances, asList: true)
  }
}

/// The city's report to the province: per county its seat target of the year (the registry's)
/// and the seats accepted by the county and confirmed by the city, then per institution.
struct ProvinceExport: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract:
      "The report to the province: per county and institution, seats accepted and confirmed vs the year's target.",
    discussion: "Rows: one per county (LEVEL county, with the registry's seat target), then one per institution.")
  @OptionGroup var options: GlobalOptions
  @Option var year: Int32
  @Option(help: "The city (default 330500).") var city: String = "330500"

  func run() async throws {
    let list = await withClient(options, "inspection") { c in
      try await IN.Client(c).listAcceptances(
        checked(
          .with {
            $0.year = year
            $0.regionCode = city
          }), options: options.callOptions
      ).acceptances
    }
    let regions = await withClient(options, "registry") { c in
      try await allPages { token in
        let page = try await R.Client(c).listRegions(
          .with {
            $0.rootCode = city
            $0.pageToken = token
          }, options: options.callOptions)
        return (page.regions, page.nextPageToken)
      }
    }
    let counties = regions.filter { $0.level == .county }
    var rows: [ExportRow] = []
    for county in counties {
      let mine = list.filter { $0.countyCode == county.code }
      rows.append(
        ExportRow(
          level: "county", region: county.code, name: county.displayName, creditCode: "",
          target: county.years.first { $0.year == year }?.seatTarget ?? 0,
          accepted: mine.reduce(0) { $0 + Int64($1.acceptedSeats) },
          confirmed: mine.filter { $0.status == .cityConfirmed }.reduce(0) { $0 + Int64($1.confirmedSeats) }))
    }
    for a in list.sorted(by: { ($0.countyCode, $0.creditCode) < ($1.countyCode, $1.creditCode) }) {
      rows.append(
        ExportRow(
          level: "institution", region: a.countyCode, name: a.institutionName, creditCode: a.creditCode, target: 0,
          accepted: Int64(a.acceptedSeats), confirmed: a.status == .cityConfirmed ? Int64(a.confirmedSeats) : 0))
    }
    var t = Table(["LEVEL", "REGION", "NAME", "CREDIT CODE", "TARGET", "ACCEPTED", "CONFIRMED"])
    for r in rows {
      t.add([
        r.level, r.region, r.name, r.creditCode, r.level == "county" ? String(r.target) : "", String(r.accepted),
        String(r.confirmed),
      ])
    }
    if options.output.isJSON {
      let objects = rows.map { r in
        "{\"level\":\"\(r.level)\",\"region\":\"\(r.region)\",\"name\":\(jsonString(r.name)),\"credit_code\":\"\(r.creditCode)\",\"target\":\(r.target),\"accepted\":\(r.accepted),\"confirmed\":\(r.confirmed)}"
      }
      print(options.output == .ndjson ? objects.joined(separator: "\n") : "[" + objects.joined(separator: ",") + "]")
    } else {
      printOutput(options, t, json: [])
    }
  }

  struct ExportRow {
    var level, region, name, creditCode: String
    var target, accepted, confirmed: Int64
  }

  func jsonString(_ s: String) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: [s], options: [])) ?? Data("[\"\"]".utf8)
    let text = String(decoding: data, as: UTF8.self)
    return String(text.dropFirst().dropLast())
  }
}

// MARK: Plan and coverage

struct PutPlan: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "put-plan", abstract: "Set the year's plan: inspections a filed institution gets at a level.")
  @OptionGroup var options: GlobalOptions
  @Option var year: Int32
  @Option(help: "city, county or township.", completion: .list(levelNamesI.map(\.0))) var level: String
  @Option(help: "Finalised inspections a year, at least.") var perYear: Int32
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Inspection_V1_PutPlanRequest.with {
          $0.requestID = requestID(requestId)
          $0.entry = try .with {
            $0.year = year
            $0.level = try lookup(levelNamesI, level, "--level")
            $0.inspectionsPerYear = perYear
          }
        })
    }
    let e = await withClient(options, "inspection") {
      try await IN.Client($0).putPlan(req, options: options.callOptions)
    }
    var t = Table(["YEAR", "LEVEL", "PER YEAR"])
    t.add([String(e.year), name(levelNamesI, e.level), String(e.inspectionsPerYear)])
    printOutput(options, t, json: [e])
  }
}

struct Coverage: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "How far the year's plan is met: per county, and each institution short of it.")
  @OptionGroup var options: GlobalOptions
  @Option var year: Int32
  @Option(help: "A county or the city.") var region: String

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Inspection_V1_GetCoverageRequest.with {
          $0.year = year
          $0.regionCode = region
        })
    }
    let r = await withClient(options, "inspection") {
      try await IN.Client($0).getCoverage(req, options: options.callOptions)
    }
    var t = Table(["COUNTY", "INSTITUTIONS", "COVERED", "COVERAGE"])
    for c in r.counties {
      t.add([
        c.countyCode, String(c.institutions), String(c.covered),
        String(format: "%.1f%%", Double(c.coveragePermille) / 10),
      ])
    }
    printOutput(options, t, json: [r])
    guard options.output == .table else { return }
    print(
      "plan: " + r.plan.map { "\(name(levelNamesI, $0.level)) \($0.inspectionsPerYear)/year" }.joined(separator: ", "))
    if !r.shortfalls.isEmpty {
      var s = Table(["CREDIT CODE", "NAME", "COUNTY", "LEVEL", "MISSING"])
      for x in r.shortfalls {
        s.add([x.creditCode, x.institutionName, x.countyCode, name(levelNamesI, x.level), String(x.missing)])
      }
      print("\n" + s.render(.table) { "" })
    }
  }
}

// MARK: Rule tables

struct PutDeadlineRulesCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "put-deadline-rules", abstract: "Set rectification deadlines (days by severity) from a day on.")
  @OptionGroup var options: GlobalOptions
  @Option(help: "First day of inspections they apply to, YYYY-MM-DD.") var from: String
  @Option var critical: Int32
  @Option var major: Int32
  @Option var minor: Int32
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Inspection_V1_PutDeadlineRulesRequest.with {
          $0.requestID = requestID(requestId)
          $0.rules = try .with {
            $0.effectiveFrom = try parseDate(from, "--from")
            $0.criticalDays = critical
            $0.majorDays = major
            $0.minorDays = minor
          }
        })
    }
    let r = await withClient(options, "inspection") {
      try await IN.Client($0).putDeadlineRules(req, options: options.callOptions)
    }
    var t = Table(["FROM", "CRITICAL DAYS", "MAJOR DAYS", "MINOR DAYS"])
    t.add([show(r.effectiveFrom), String(r.criticalDays), String(r.majorDays), String(r.minorDays)])
    printOutput(options, t, json: [r])
  }
}

struct PutCreditRulesCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "put-credit-rules", abstract: "Publish the next credit rules: points per finding and grade bands.")
  @OptionGroup var options: GlobalOptions
  @Option var minor: Int32
  @Option var major: Int32
  @Option var critical: Int32
  @Option(help: "Points per overdue order.") var overdue: Int32
  @Option(help: "Least scores of A, B and C, as A,B,C (e.g. 90,75,60).") var bands: String
  @Option(help: "The best grade with a critical failure in the window.") var criticalCap: String = "C"
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      let b = bands.split(separator: ",").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
      guard b.count == 3 else { throw CLIError("--bands must be three numbers A,B,C, e.g. 90,75,60") }
      return try checked(
        Tuoyu_Inspection_V1_PutCreditRulesRequest.with {
          $0.requestID = requestID(requestId)
          $0.rules = .with {
            $0.minorPoints = minor
            $0.majorPoints = major
            $0.criticalPoints = critical
            $0.overduePoints = overdue
            $0.aFrom = b[0]
            $0.bFrom = b[1]
            $0.cFrom = b[2]
            $0.criticalCap = criticalCap
          }
        })
    }
    let r = await withClient(options, "inspection") {
      try await IN.Client($0).putCreditRules(req, options: options.callOptions)
    }
    print("published credit rules version \(r.version)")
  }
}
