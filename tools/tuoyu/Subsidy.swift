import API
import ArgumentParser
import Foundation
import RPC
import SubsidyAPI

typealias SB = Tuoyu_Subsidy_V1_Subsidy

struct SubsidyCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "subsidy",
    abstract: "Seat awards, enrolment and milk subsidies, budgets, the ledger and reconciliation (tuoyu-subsidy).",
    discussion: """
      Money is given and shown in yuan (1800 or 1800.50); the service keeps integer fen. A seat
      award appears by itself when the city confirms an acceptance; it is reviewed by the county,
      approved by finance (not by whoever created or reviewed it) and paid share by share — the
      city's and the county's — each with the payer's reference. ID numbers are shown masked.
      """,
    subcommands: [
      PutPolicy.self, PolicyShow.self, PutBudget.self, RegisterChild.self, UpdateChild.self, EnrolChild.self,
      EndEnrolment.self, ChildShow.self, ImportChildren.self, ClaimChild.self, ClaimMonth.self, UpperFunds.self,
      ApplicationShow.self, Applications.self, Review.self, Approve.self, Reject.self, Disburse.self,
      ReversePayment.self, Ledger.self, Balances.self, Reconcile.self, Holds.self, SubsidyReport.self,
      Watch<SubsidyFeed>.self,
    ])
}

enum SubsidyFeed: FeedSource { static var name: String { "subsidy" } }

let programmeNames = Tuoyu_Subsidy_V1_Programme.plainNames
let payerNames = Tuoyu_Subsidy_V1_Payer.plainNames
let applicationStatusNames = Tuoyu_Subsidy_V1_ApplicationStatus.plainNames

func yuan(_ fen: Int64) -> String { Yuan.string(fen) }

/// YYYY-MM as a month (the day is ignored by the service).
func parseMonth(_ text: String, _ flag: String) throws -> Tuoyu_Common_V1_Date {
  let p = text.split(separator: "-")
  guard p.count == 2, let y = Int32(p[0]), let m = Int32(p[1]), (1...12).contains(m) else {
    throw CLIError("\(flag) must be a month like 2025-06, got \(text)")
  }
  return .with {
    $0.year = y
    $0.month = m
    $0.day = 1
  }
}

func ids(_ list: [String], _ flag: String) throws -> [Int64] {
  try list.flatMap { $0.split(separator: ",") }.map {
    guard let n = Int64($0.trimmingCharacters(in: .whitespaces)), n > 0 else {
      throw CLIError("\(flag): \(String($0).debugDescription) is not an application number")
    }
    return n
  }
}

func applicationTable(_ list: [Tuoyu_Subsidy_V1_Application]) -> Table {
  var t = Table([
    "APPLICATION", "PROGRAMME", "YEAR", "COUNTY", "INSTITUTION", "SEATS/CHILD", "MONTH", "GROSS", "UPPER", "PAYABLE",
    "CITY", "COUNTY SHARE", "STATUS", "HOLD",
  ])
  for a in list {
    func share(_ p: Tuoyu_Subsidy_V1_Payer) -> String {
      guard let s = a.shares.first(where: { $0.payer == p }) else { return "-" }
      return yuan(s.amount.fen) + (s.paymentReference.isEmpty ? "" : " (\(s.paymentReference))")
    }
    t.add([
      String(a.applicationID), name(programmeNames, a.programme), String(a.year), a.countyCode, a.creditCode,
      a.programme == .seatAward ? String(a.seats) : "child \(a.childID)",
      a.month.year == 0 ? "" : String(format: "%04d-%02d", a.month.year, a.month.month), yuan(a.gross.fen),
      yuan(a.upperFunds.fen), yuan(a.payable.fen), share(.city), share(.county),
      name(applicationStatusNames, a.status) + (a.rejectionReason.isEmpty ? "" : ": \(a.rejectionReason)"),
      a.onHold ? "HELD" : "",
    ])
  }
  return t
}

func paymentTable(_ list: [Tuoyu_Subsidy_V1_Payment]) -> Table {
  var t = Table([
    "PAYMENT", "PAYER", "REGION", "PROGRAMME", "REFERENCE", "AMOUNT", "PAID ON", "APPLICATIONS", "REVERSED",
  ])
  for p in list {
    t.add([
      String(p.paymentID), name(payerNames, p.payer), p.regionCode, name(programmeNames, p.programme), p.reference,
      yuan(p.amount.fen), show(p.paidOn), String(p.applications), p.reversed ? "reversed" : "",
    ])
  }
  return t
}

func childTable(_ list: [Tuoyu_Subsidy_V1_Child]) -> Table {
  var t = Table(["CHILD", "ID NUMBER", "BORN", "COUNTY", "LOCAL HUKOU", "HARDSHIP", "ENROLLED AT"])
  for c in list {
    t.add([
      String(c.childID), shownID(c.idNumber, reveal: false), show(c.birthDate), c.countyCode,
      c.localHukou ? "yes" : "no",
      c.hardship ? "yes" : "no", c.creditCode,
    ])
  }
  return t
}

// MARK: Policy and budgets

struct PutPolicy: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "put-policy", abstract: "Put the next version of the policy for a year and region.")
  @OptionGroup var options: GlobalOptions
  @Option var year: Int32
  @Option(help: "A county, the city, or none for every region.") var region: String?
  @Option(help: "Award per new seat, yuan.") var awardPerSeat: String = "2000"
  @Option(help: "The city's part of the cost.") var cityShare: Int32 = 4
  @Option(help: "The county's part of the cost.") var countyShare: Int32 = 6
  @Option(help: "Monthly enrolment subsidy per child, yuan.") var enrolmentMonthly: String = "0"
  @Option(help: "Monthly milk subsidy per hardship child, yuan.") var milkMonthly: String = "0"
  @Option(help: "Why (the decision it follows).") var reason: String
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_PutPolicyRequest.with {
          $0.requestID = requestID(requestId)
          $0.year = year
          $0.regionCode = region ?? ""
          $0.awardPerSeat.fen = try fen(awardPerSeat, "--award-per-seat")
          $0.cityShare = cityShare
          $0.countyShare = countyShare
          $0.enrolmentMonthly.fen = try fen(enrolmentMonthly, "--enrolment-monthly")
          $0.milkMonthly.fen = try fen(milkMonthly, "--milk-monthly")
          $0.reason = reason
        })
    }
    let p = await withClient(options, "subsidy") {
      try await SB.Client($0).putPolicy(req, options: options.callOptions)
    }
    printOutput(options, policyTable(p), json: [p])
  }
}

func policyTable(_ p: Tuoyu_Subsidy_V1_Policy) -> Table {
  var t = Table(["YEAR", "REGION", "VERSION", "SOURCE", "AWARD/SEAT", "CITY:COUNTY", "ENROLMENT/MONTH", "MILK/MONTH"])
  t.add([
    String(p.year), p.regionCode.isEmpty ? "all" : p.regionCode, String(p.version), p.source,
    yuan(p.awardPerSeat.fen), "\(p.cityShare):\(p.countyShare)", yuan(p.enrolmentMonthly.fen), yuan(p.milkMonthly.fen),
  ])
  return t
}

struct PolicyShow: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "policy", abstract: "The policy in force for a county in a year (and where it comes from).")
  @OptionGroup var options: GlobalOptions
  @Option var year: Int32
  @Option var county: String

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_GetPolicyRequest.with {
          $0.year = year
          $0.regionCode = county
        })
    }
    let p = await withClient(options, "subsidy") {
      try await SB.Client($0).getPolicy(req, options: options.callOptions)
    }
    printOutput(options, policyTable(p), json: [p])
  }
}

struct PutBudget: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "put-budget", abstract: "Set a budget for a year, region (the city or a county) and programme.")
  @OptionGroup var options: GlobalOptions
  @Option var year: Int32
  @Option var region: String
  @Option(help: "seat-award, enrolment or milk.") var programme: String
  @Option(help: "Yuan.") var amount: String
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_PutBudgetRequest.with {
          $0.requestID = requestID(requestId)
          $0.year = year
          $0.regionCode = region
          $0.programme = try lookup(programmeNames, programme, "--programme")
          $0.amount.fen = try fen(amount, "--amount")
        })
    }
    let b = await withClient(options, "subsidy") {
      try await SB.Client($0).putBudget(req, options: options.callOptions)
    }
    var t = Table(["YEAR", "REGION", "PROGRAMME", "BUDGET", "COMMITTED", "PAID"])
    t.add([
      String(b.year), b.regionCode, name(programmeNames, b.programme), yuan(b.amount.fen), yuan(b.committed.fen),
      yuan(b.paid.fen),
    ])
    printOutput(options, t, json: [b])
  }
}

// MARK: Children

struct RegisterChild: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "register-child", abstract: "Register a child by resident ID number (kept only sealed and hashed).")
  @OptionGroup var options: GlobalOptions
  @Option var idNumber: String
  @Option var county: String
  @Flag(help: "The child's hukou is local (本地户籍).") var localHukou = false
  @Flag(help: "Registered as a hardship infant (困难婴幼儿).") var hardship = false
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_RegisterChildRequest.with {
          $0.requestID = requestID(requestId)
          $0.idNumber = idNumber.uppercased()
          $0.countyCode = county
          $0.localHukou = localHukou
          $0.hardship = hardship
        })
    }
    let c = await withClient(options, "subsidy") {
      try await SB.Client($0).registerChild(req, options: options.callOptions)
    }
    printOutput(options, childTable([c]), json: [c])
  }
}

struct UpdateChild: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "update-child", abstract: "Set a child's local hukou and hardship flags.")
  @OptionGroup var options: GlobalOptions
  @Argument var child: Int64
  @Option(help: "yes or no.") var localHukou: String
  @Option(help: "yes or no.") var hardship: String
  @Option var requestId: String?

  func run() async throws {
    func yes(_ s: String, _ flag: String) throws -> Bool {
      switch s.lowercased() {
      case "yes", "true", "y": return true
      case "no", "false", "n": return false
      default: throw CLIError("\(flag) must be yes or no")
      }
    }
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_UpdateChildRequest.with {
          $0.requestID = requestID(requestId)
          $0.childID = child
          $0.localHukou = try yes(localHukou, "--local-hukou")
          $0.hardship = try yes(hardship, "--hardship")
        })
    }
    let c = await withClient(options, "subsidy") {
      try await SB.Client($0).updateChild(req, options: options.callOptions)
    }
    printOutput(options, childTable([c]), json: [c])
  }
}

struct EnrolChild: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "enrol", abstract: "Enrol a child at an institution from a day (default today).")
  @OptionGroup var options: GlobalOptions
  @Argument var child: Int64
  @Option var institution: String
  @Option var start: String?
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_EnrolChildRequest.with {
          $0.requestID = requestID(requestId)
          $0.childID = child
          $0.creditCode = institution
          $0.startOn = try date(start, "--start")
        })
    }
    let c = await withClient(options, "subsidy") {
      try await SB.Client($0).enrolChild(req, options: options.callOptions)
    }
    printOutput(options, childTable([c]), json: [c])
  }
}

struct EndEnrolment: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "end-enrolment", abstract: "End a child's open enrolment on a day (default today).")
  @OptionGroup var options: GlobalOptions
  @Argument var child: Int64
  @Option var end: String?
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_EndEnrolmentRequest.with {
          $0.requestID = requestID(requestId)
          $0.childID = child
          $0.endOn = try date(end, "--end")
        })
    }
    let c = await withClient(options, "subsidy") {
      try await SB.Client($0).endEnrolment(req, options: options.callOptions)
    }
    printOutput(options, childTable([c]), json: [c])
  }
}

struct ChildShow: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "child", abstract: "Show a child (ID number masked).")
  @OptionGroup var options: GlobalOptions
  @Argument var child: Int64

  func run() async throws {
    let req = parsed { try checked(Tuoyu_Subsidy_V1_GetChildRequest.with { $0.childID = child }) }
    let c = await withClient(options, "subsidy") { try await SB.Client($0).getChild(req, options: options.callOptions) }
    printOutput(options, childTable([c]), json: [c])
  }
}

// MARK: Claims and applications

struct ClaimChild: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "claim", abstract: "Claim a month's enrolment or milk subsidy for one child.")
  @OptionGroup var options: GlobalOptions
  @Argument var child: Int64
  @Option(help: "enrolment or milk.") var programme: String
  @Option(help: "YYYY-MM.") var month: String
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_ClaimChildRequest.with {
          $0.requestID = requestID(requestId)
          $0.childID = child
          $0.programme = try lookup(programmeNames, programme, "--programme")
          $0.month = try parseMonth(month, "--month")
        })
    }
    let a = await withClient(options, "subsidy") {
      try await SB.Client($0).claimChild(req, options: options.callOptions)
    }
    printOutput(options, applicationTable([a]), json: [a])
  }
}

struct ClaimMonth: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "claim-month",
    abstract: "Claim a month for every entitled child of a county (already claimed skipped).")
  @OptionGroup var options: GlobalOptions
  @Option(help: "enrolment or milk.") var programme: String
  @Option var county: String
  @Option(help: "YYYY-MM.") var month: String
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_ClaimMonthRequest.with {
          $0.requestID = requestID(requestId)
          $0.programme = try lookup(programmeNames, programme, "--programme")
          $0.countyCode = county
          $0.month = try parseMonth(month, "--month")
        })
    }
    let r = await withClient(options, "subsidy") {
      try await SB.Client($0).claimMonth(req, options: options.callOptions)
    }
    var t = Table(["CREATED", "ALREADY CLAIMED", "AMOUNT"])
    t.add([String(r.created), String(r.alreadyClaimed), yuan(r.amount.fen)])
    printOutput(options, t, json: [r])
  }
}

struct UpperFunds: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "upper-funds", abstract: "Assign upper-level funds (上级补助) to a seat award before approval.")
  @OptionGroup var options: GlobalOptions
  @Argument var application: Int64
  @Option(help: "The total, yuan.") var amount: String
  @Option(help: "The allocation document (文号).") var document: String
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_AssignUpperFundsRequest.with {
          $0.requestID = requestID(requestId)
          $0.applicationID = application
          $0.amount.fen = try fen(amount, "--amount")
          $0.document = document
        })
    }
    let a = await withClient(options, "subsidy") {
      try await SB.Client($0).assignUpperFunds(req, options: options.callOptions)
    }
    printOutput(options, applicationTable([a]), json: [a])
  }
}

struct ApplicationShow: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "application", abstract: "Show an application with its shares and payments.")
  @OptionGroup var options: GlobalOptions
  @Argument var application: Int64

  func run() async throws {
    let req = parsed { try checked(Tuoyu_Subsidy_V1_GetApplicationRequest.with { $0.applicationID = application }) }
    let a = await withClient(options, "subsidy") {
      try await SB.Client($0).getApplication(req, options: options.callOptions)
    }
    printOutput(options, applicationTable([a]), json: [a])
  }
}

struct Applications: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "List applications (every page).")
  @OptionGroup var options: GlobalOptions
  @Option var year: Int32 = 0
  @Option(help: "A county or the city.") var region: String?
  @Option(help: "seat-award, enrolment or milk.") var programme: String?
  @Option(help: "submitted, reviewed, approved, disbursed or rejected.") var status: String?
  @Option var institution: String?
  @Option(help: "YYYY-MM.") var month: String?
  @Flag(help: "Print only the application numbers, comma-separated (for review/approve/disburse).") var idsOnly = false

  func run() async throws {
    let base = parsed {
      try checked(
        Tuoyu_Subsidy_V1_ListApplicationsRequest.with {
          $0.year = year
          $0.regionCode = region ?? ""
          if let programme { $0.programme = try lookup(programmeNames, programme, "--programme") }
          if let status { $0.status = try lookup(applicationStatusNames, status, "--status") }
          $0.creditCode = institution ?? ""
          if let month { $0.month = try parseMonth(month, "--month") }
          $0.pageSize = 1000
        })
    }
    let list = await withClient(options, "subsidy") { c in
      try await allPages { token in
        var req = base
        req.pageToken = token
        let page = try await SB.Client(c).listApplications(req, options: options.callOptions)
        return (page.applications, page.nextPageToken)
      }
    }
    if idsOnly {
      print(list.map { String($0.applicationID) }.joined(separator: ","))
      return
    }
    printOutput(options, applicationTable(list), json: list, asList: true)
  }
}

/// Review, approve: a step over up to 1,000 applications at once, all or none.
struct BatchOptions: ParsableArguments {
  @Argument(help: "Application numbers (space- or comma-separated).") var applications: [String]
  @Option var requestId: String?

  func list() throws -> [Int64] { try ids(applications, "APPLICATIONS") }
}

func stepOutput(_ options: GlobalOptions, _ what: String, _ r: Tuoyu_Subsidy_V1_StepResponse) {
  var t = Table(["APPLICATIONS", "AMOUNT"])
  t.add([String(r.applications), yuan(r.amount.fen)])
  if options.output == .table {
    print("\(what) \(r.applications) application(s), \(yuan(r.amount.fen)) yuan")
  } else {
    printOutput(options, t, json: [r])
  }
}

struct Review: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "The county's review of submitted applications.")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var batch: BatchOptions

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_ReviewApplicationsRequest.with {
          $0.requestID = requestID(batch.requestId)
          $0.applicationIds = try batch.list()
        })
    }
    let r = await withClient(options, "subsidy") {
      try await SB.Client($0).reviewApplications(req, options: options.callOptions)
    }
    stepOutput(options, "reviewed", r)
  }
}

struct Approve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Finance's approval of reviewed applications (within budget; not by their creator or reviewer).")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var batch: BatchOptions

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_ApproveApplicationsRequest.with {
          $0.requestID = requestID(batch.requestId)
          $0.applicationIds = try batch.list()
        })
    }
    let r = await withClient(options, "subsidy") {
      try await SB.Client($0).approveApplications(req, options: options.callOptions)
    }
    stepOutput(options, "approved", r)
  }
}

struct Reject: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Reject a pending application with a reason (finance: withdraw an approved, unpaid one).")
  @OptionGroup var options: GlobalOptions
  @Argument var application: Int64
  @Option var reason: String
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_RejectApplicationRequest.with {
          $0.requestID = requestID(requestId)
          $0.applicationID = application
          $0.reason = reason
        })
    }
    let a = await withClient(options, "subsidy") {
      try await SB.Client($0).rejectApplication(req, options: options.callOptions)
    }
    printOutput(options, applicationTable([a]), json: [a])
  }
}

// MARK: Payments and the ledger

struct Disburse: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Pay one payer's shares of approved applications as one payment with the payer's reference.",
    discussion: """
      Give --request-id to retry safely: a retry with the same id returns the same payment and pays
      nothing again (a share is paid at most once whatever the id).
      """)
  @OptionGroup var options: GlobalOptions
  @OptionGroup var batch: BatchOptions
  @Option(help: "city or county.") var payer: String
  @Option(help: "The payer's bank or treasury reference.") var reference: String
  @Option(help: "YYYY-MM-DD (default today).") var paidOn: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_DisburseRequest.with {
          $0.requestID = requestID(batch.requestId)
          $0.applicationIds = try batch.list()
          $0.payer = try lookup(payerNames, payer, "--payer")
          $0.reference = reference
          $0.paidOn = try date(paidOn, "--paid-on")
        })
    }
    let p = await withClient(options, "subsidy") { try await SB.Client($0).disburse(req, options: options.callOptions) }
    printOutput(options, paymentTable([p]), json: [p])
  }
}

struct ReversePayment: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "reverse", abstract: "Reverse a payment (a correction: new ledger entries, never an edit).")
  @OptionGroup var options: GlobalOptions
  @Argument var payment: Int64
  @Option var reason: String
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_ReversePaymentRequest.with {
          $0.requestID = requestID(requestId)
          $0.paymentID = payment
          $0.reason = reason
        })
    }
    let p = await withClient(options, "subsidy") {
      try await SB.Client($0).reversePayment(req, options: options.callOptions)
    }
    printOutput(options, paymentTable([p]), json: [p])
  }
}

struct Ledger: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Ledger entries (every page): debit +, credit −.")
  @OptionGroup var options: GlobalOptions
  @Option var application: Int64 = 0
  @Option var payment: Int64 = 0
  @Option var region: String?

  func run() async throws {
    let base = parsed {
      try checked(
        Tuoyu_Subsidy_V1_ListLedgerRequest.with {
          $0.applicationID = application
          $0.paymentID = payment
          $0.regionCode = region ?? ""
          $0.pageSize = 1000
        })
    }
    let list = await withClient(options, "subsidy") { c in
      try await allPages { token in
        var req = base
        req.pageToken = token
        let page = try await SB.Client(c).listLedger(req, options: options.callOptions)
        return (page.entries, page.nextPageToken)
      }
    }
    var t = Table([
      "ENTRY", "TXN", "KIND", "ACCOUNT", "PROGRAMME", "REGION", "PAYER", "AMOUNT", "APPLICATION", "PAYMENT", "REVERSES",
      "RECORDED",
    ])
    for e in list {
      t.add([
        String(e.entryID), String(e.transactionID), e.kind, e.account, name(programmeNames, e.programme), e.regionCode,
        name(payerNames, e.payer), yuan(e.amountFen), e.applicationID == 0 ? "" : String(e.applicationID),
        e.paymentID == 0 ? "" : String(e.paymentID), e.reverses == 0 ? "" : String(e.reverses), e.recordedAt,
      ])
    }
    printOutput(options, t, json: list, asList: true)
  }
}

struct Balances: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Balances per account, programme, region and payer (expense, payable owed, bank paid out).")
  @OptionGroup var options: GlobalOptions
  @Option var region: String?

  func run() async throws {
    let req = parsed { try checked(Tuoyu_Subsidy_V1_GetBalancesRequest.with { $0.regionCode = region ?? "" }) }
    let r = await withClient(options, "subsidy") {
      try await SB.Client($0).getBalances(req, options: options.callOptions)
    }
    var t = Table(["REGION", "PROGRAMME", "PAYER", "ACCOUNT", "BALANCE"])
    for b in r.balances {
      t.add([b.regionCode, name(programmeNames, b.programme), name(payerNames, b.payer), b.account, yuan(b.balanceFen)])
    }
    printOutput(options, t, json: [r])
    if options.output == .table { print("total of every entry: \(yuan(r.totalFen))") }
  }
}

struct Reconcile: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Reconcile a payer's statement (CSV: reference, amount in yuan, paid_on) against the ledger.",
    discussion: "Exit 2 when anything is missing or unexpected.")
  @OptionGroup var options: GlobalOptions
  @Argument(help: "The statement CSV.", completion: .file(extensions: ["csv"])) var file: String
  @Option(help: "city or county.") var payer: String
  @Option(help: "The payer's region: the city's code, or the county's.") var region: String
  @Option(help: "YYYY-MM-DD.") var from: String
  @Option(help: "YYYY-MM-DD.") var to: String
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      let records: [(line: Int, fields: [String])]
      do { records = try CSV.parse(try readTextFile(file, encoding: options.encoding)) } catch let e as CSV.ParseError {
        throw CLIError("\(file):\(e.line): \(e.message)", exitCode: 66)
      }
      guard let header = records.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }),
        let ref = header.firstIndex(of: "reference"), let amount = header.firstIndex(of: "amount")
      else { throw CLIError("\(file): the columns are reference, amount[, paid_on]", exitCode: 66) }
      let paid = header.firstIndex(of: "paid_on")
      return try checked(
        Tuoyu_Subsidy_V1_ReconcileRequest.with {
          $0.requestID = requestID(requestId)
          $0.payer = try lookup(payerNames, payer, "--payer")
          $0.regionCode = region
          $0.from = try date(from, "--from")
          $0.to = try date(to, "--to")
          $0.lines = try records.dropFirst().map { line, f in
            guard f.count > max(ref, amount) else { throw CLIError("\(file):\(line): too few fields", exitCode: 66) }
            return try .with {
              $0.reference = f[ref].trimmingCharacters(in: .whitespaces)
              $0.amount.fen = try fen(f[amount].trimmingCharacters(in: .whitespaces), "\(file):\(line): amount")
              if let paid, f.count > paid, !f[paid].isEmpty {
                $0.paidOn = try date(f[paid], "\(file):\(line): paid_on")
              }
            }
          }
        })
    }
    let r = await withClient(options, "subsidy") {
      try await SB.Client($0).reconcile(req, options: options.callOptions)
    }
    var t = Table(["RESULT", "REFERENCE", "LEDGER", "STATEMENT", "PAYMENT"])
    for (label, items) in [("matched", r.matched), ("missing", r.missing), ("unexpected", r.unexpected)] {
      for i in items {
        t.add([
          label, i.reference, yuan(i.ledgerFen), yuan(i.statementFen), i.paymentID == 0 ? "" : String(i.paymentID),
        ])
      }
    }
    if options.output == .table {
      print(
        "reconciliation \(r.reconciliationID): \(r.matched.count) matched, \(r.missing.count) missing, \(r.unexpected.count) unexpected"
      )
    }
    printOutput(options, t, json: [r])
    if !r.missing.isEmpty || !r.unexpected.isEmpty { throw ExitCode(2) }
  }
}

// MARK: Holds and reports

struct Holds: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Holds on institutions' pending payments (critical findings until their orders are verified).")
  @OptionGroup var options: GlobalOptions
  @Option var institution: String?
  @Flag var activeOnly = false

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_ListHoldsRequest.with {
          $0.creditCode = institution ?? ""
          $0.activeOnly = activeOnly
        })
    }
    let r = await withClient(options, "subsidy") {
      try await SB.Client($0).listHolds(req, options: options.callOptions)
    }
    var t = Table(["INSPECTION", "INSTITUTION", "CRITICAL", "VERIFIED", "PLACED", "RELEASED"])
    for h in r.holds {
      t.add([
        String(h.inspectionID), h.creditCode, String(h.criticalFindings), String(h.verified), h.placedOn,
        h.releasedOn.isEmpty ? "on hold" : h.releasedOn,
      ])
    }
    printOutput(options, t, json: r.holds, asList: true)
  }
}

struct SubsidyReport: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report", abstract: "Per region and programme: budget, committed, paid and held, in yuan.")
  @OptionGroup var options: GlobalOptions
  @Option var year: Int32
  @Option var region: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Subsidy_V1_GetReportRequest.with {
          $0.year = year
          $0.regionCode = region ?? ""
        })
    }
    let r = await withClient(options, "subsidy") {
      try await SB.Client($0).getReport(req, options: options.callOptions)
    }
    var t = Table(["REGION", "PROGRAMME", "PAYER", "BUDGET", "COMMITTED", "PAID", "HELD", "APPLICATIONS"])
    for row in r.rows {
      t.add([
        row.countyCode, name(programmeNames, row.programme), name(payerNames, row.payer), yuan(row.budget.fen),
        yuan(row.committed.fen), yuan(row.paid.fen), yuan(row.held.fen), String(row.applications),
      ])
    }
    printOutput(options, t, json: r.rows, asList: true)
  }
}
