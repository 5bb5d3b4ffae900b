import API
import Foundation
import InspectionAPI
import Postgres
import RPC
import RegistryAPI
import RegistryView
import ServiceKit
import ServiceKitTesting
import SubsidyAPI
import SubsidyCore
import Testing

let officer = SubsidyService.countyOfficer
let reviewer = SubsidyService.countyReviewer
let approver = SubsidyService.financeApprover
let treasurer = SubsidyService.treasurer

@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"), .serialized)
struct SubsidyServiceTests {
  /// The award of one accepted batch, from the acceptance event to both shares paid: delivered
  /// twice, awarded once; maker-checker; each share paid once, also on a retry; the ledger balances.
  @Test func anAcceptedBatchIsAwardedOnceAndPaidOnce() async throws {
    let f = try await Fixture.start()
    defer { Task { await f.stop() } }
    try await f.fileInRegistry()
    try await f.budgets(.seatAward, city: 1_000_000, county: 1_000_000)
    #expect(try await f.acceptance(7, seats: 100, cursor: 1))
    // The same event again (a redelivery under another cursor): still one award.
    #expect(try await f.acceptance(7, seats: 100, cursor: 2))
    #expect(try await f.subsidy.count("SELECT count(*) FROM application WHERE acceptance_id = 7") == 1)

    let countyReviewer = try await f.client([reviewer], subject: "county-1")
    let financeOfficer = try await f.client([approver], subject: "finance-1")
    let both = try await f.client([reviewer, approver], subject: "both-1")
    let pay = try await f.client([treasurer], subject: "treasury-1")
    let list = try await countyReviewer.listApplications(.with { $0.year = 2025 })
    let award = try #require(list.applications.first)
    #expect(award.gross.fen == 20_000_000 && award.seats == 100 && award.status == .submitted)
    #expect(award.shares.map(\.amount.fen) == [8_000_000, 12_000_000])

    // Upper-level funds are deducted first.
    let officerClient = try await f.client([officer], subject: "officer-1")
    let withUpper = try await officerClient.assignUpperFunds(
      .with {
        $0.requestID = "upper"
        $0.applicationID = award.applicationID
        $0.amount.fen = 5_000_001
        $0.document = "浙财社〔2025〕1号"
      })
    #expect(withUpper.payable.fen == 14_999_999)
    #expect(withUpper.shares.map(\.amount.fen) == [5_999_999, 9_000_000])

    // Not before review; the reviewer cannot approve (maker-checker), on the wire.
    await expectCode(.failedPrecondition, rule: "workflow.order") {
      _ = try await financeOfficer.approveApplications(
        .with {
          $0.requestID = "a0"; $0.applicationIds = [award.applicationID]
        })
    }
    _ = try await both.reviewApplications(
      .with {
        $0.requestID = "rv"; $0.applicationIds = [award.applicationID]
      })
    await expectCode(.failedPrecondition, rule: "approval.maker-checker") {
      _ = try await both.approveApplications(
        .with {
          $0.requestID = "a1"; $0.applicationIds = [award.applicationID]
        })
    }
    let approved = try await financeOfficer.approveApplications(
      .with {
        $0.requestID = "a2"; $0.applicationIds = [award.applicationID]
      })
    #expect(approved.amount.fen == 14_999_999)

    // The city's share, paid; a retry with the same request id returns the same payment.
    func disburse(_ id: String, _ payer: Tuoyu_Subsidy_V1_Payer, _ ref: String) async throws -> Tuoyu_Subsidy_V1_Payment
    {
      try await pay.disburse(
        .with {
          $0.requestID = id
          $0.applicationIds = [award.applicationID]
          $0.payer = payer
          $0.reference = ref
          $0.paidOn = date("2025-06-09")
        })
    }
    let city = try await disburse("pay-city", .city, "CITY-0001")
    let again = try await disburse("pay-city", .city, "CITY-0001")
    #expect(city.paymentID == again.paymentID && city.amount.fen == 5_999_999 && city.regionCode == "330500")
    // Another request id for the same share: refused, nothing paid twice.
    await expectCode(.failedPrecondition, rule: "payment.once") {
      _ = try await disburse("pay-city-2", .city, "CITY-0002")
    }
    #expect(try await f.subsidy.count("SELECT count(*) FROM payment") == 1)
    var now = try await pay.getApplication(.with { $0.applicationID = award.applicationID })
    #expect(now.status == .approved)
    let county = try await disburse("pay-county", .county, "WX-0001")
    #expect(county.amount.fen == 9_000_000)
    now = try await pay.getApplication(.with { $0.applicationID = award.applicationID })
    #expect(now.status == .disbursed)
    #expect(now.shares.map(\.paymentReference) == ["CITY-0001", "WX-0001"])

    // The ledger: every transaction balances; the obligations are settled; the bank paid out.
    let balances = try await pay.getBalances(.init())
    #expect(balances.totalFen == 0)
    func balance(_ account: String, _ payer: Tuoyu_Subsidy_V1_Payer) -> Int64? {
      balances.balances.first { $0.account == account && $0.payer == payer }?.balanceFen
    }
    #expect(balance("expense", .city) == 5_999_999 && balance("expense", .county) == 9_000_000)
    #expect(balance("payable", .city) == 0 && balance("payable", .county) == 0)
    #expect(balance("bank", .city) == -5_999_999 && balance("bank", .county) == -9_000_000)
    #expect(
      try await f.subsidy.count(
        "SELECT count(*) FROM (SELECT txn_id FROM ledger_entry GROUP BY txn_id HAVING sum(amount_fen) <> 0) x") == 0)
    let report = try await pay.getReport(.with { $0.year = 2025 })
    let countyRow = try #require(report.rows.first { $0.countyCode == "330502" && $0.programme == .seatAward })
    #expect(
      countyRow.budget.fen == 100_000_000 && countyRow.committed.fen == 9_000_000 && countyRow.paid.fen == 9_000_000)

    // The ledger is never edited, also not by SQL.
    await #expect(throws: (any Error).self) {
      try await f.subsidy.pool.withConnection { _ = try await $0.query("UPDATE ledger_entry SET amount_fen = 1") }
    }
    await #expect(throws: (any Error).self) {
      try await f.subsidy.pool.withConnection { _ = try await $0.query("DELETE FROM payment") }
    }
    // A correction is a reversal: the county's payment reversed, its share owed again.
    let reversed = try await pay.reversePayment(
      .with {
        $0.requestID = "rev"; $0.paymentID = county.paymentID; $0.reason = "wrong account"
      })
    #expect(reversed.reversed)
    now = try await pay.getApplication(.with { $0.applicationID = award.applicationID })
    #expect(now.status == .approved)
    await expectCode(.failedPrecondition, rule: "payment.reverse-once") {
      _ = try await pay.reversePayment(
        .with {
          $0.requestID = "rev2"; $0.paymentID = county.paymentID; $0.reason = "x"
        })
    }
    let after = try await pay.getBalances(.init())
    #expect(after.totalFen == 0)
    #expect(after.balances.first { $0.account == "payable" && $0.payer == .county }?.balanceFen == -9_000_000)
    _ = try await disburse("pay-county-2", .county, "WX-0002")
    #expect(try await pay.getApplication(.with { $0.applicationID = award.applicationID }).status == .disbursed)
  }

  /// At approval the registry is asked: a suspended institution's award is refused, and nothing changes.
  @Test func aSuspendedInstitutionsAwardIsRefusedAtApproval() async throws {
    let f = try await Fixture.start()
    defer { Task { await f.stop() } }
    try await f.fileInRegistry()
    try await f.budgets(.seatAward, city: 1_000_000, county: 1_000_000)
    #expect(try await f.acceptance(1, seats: 10, cursor: 1))
    let id = try await f.client([reviewer], subject: "r").listApplications(.init()).applications[0].applicationID
    _ = try await f.client([reviewer], subject: "r").reviewApplications(
      .with {
        $0.requestID = "rv"; $0.applicationIds = [id]
      })
    let registryApprover = R.Client(try await f.registry.client(["registry.approver"]))
    _ = try await registryApprover.suspendInstitution(
      .with {
        $0.requestID = "susp"
        $0.creditCode = code
        $0.reason = "fire exits blocked"
      })
    let finance = try await f.client([approver], subject: "finance-1")
    await expectCode(.failedPrecondition, rule: "award.institution-filed") {
      _ = try await finance.approveApplications(
        .with {
          $0.requestID = "a"; $0.applicationIds = [id]
        })
    }
    #expect(try await f.subsidy.count("SELECT count(*) FROM share") == 0)
    #expect(try await f.subsidy.count("SELECT count(*) FROM ledger_entry") == 0)
    #expect(try await f.subsidy.count("SELECT committed_fen FROM budget WHERE region_code = '330502'") == 0)
    _ = try await registryApprover.reinstateInstitution(
      .with {
        $0.requestID = "re"; $0.creditCode = code
      })
    _ = try await finance.approveApplications(
      .with {
        $0.requestID = "a2"; $0.applicationIds = [id]
      })
  }

  /// Twelve approvals racing for a budget that holds five: exactly five approved, never overspent.
  @Test func racingApprovalsNeverOverspend() async throws {
    let f = try await Fixture.start()
    defer { Task { await f.stop() } }
    try await f.fileInRegistry()
    // Each award: 10 seats × 2,000 = 20,000 yuan; the county's 12,000 yuan share binds: 60,000 → 5.
    try await f.budgets(.seatAward, city: 1_000_000, county: 60_000)
    for i in 1...12 { #expect(try await f.acceptance(Int64(i), seats: 10, cursor: Int64(i))) }
    let r = try await f.client([reviewer], subject: "r")
    let ids = try await r.listApplications(.init()).applications.map(\.applicationID)
    _ = try await r.reviewApplications(
      .with {
        $0.requestID = "rv"; $0.applicationIds = ids
      })
    let results = try await withThrowingTaskGroup(of: Bool.self) { group in
      for (n, id) in ids.enumerated() {
        group.addTask {
          let c = try await f.client([approver], subject: "finance-\(n)")
          do {
            _ = try await c.approveApplications(
              .with {
                $0.requestID = "a-\(id)"; $0.applicationIds = [id]
              })
            return true
          } catch let e as RPCError {
            #expect(e.code == .failedPrecondition && e.message.contains("budget.exceeded"), "\(e)")
            return false
          }
        }
      }
      return try await group.reduce(into: [Bool]()) { $0.append($1) }
    }
    #expect(results.filter { $0 }.count == 5)
    #expect(
      try await f.subsidy.count("SELECT committed_fen::int FROM budget WHERE region_code = '330502'") == 6_000_000)
    #expect(try await f.subsidy.count("SELECT count(*) FROM application WHERE status = 'approved'") == 5)
    // What holds under concurrency is the table's CHECK, named for the rule it reports.
    do {
      try await f.subsidy.pool.withConnection {
        _ = try await $0.query("UPDATE budget SET committed_fen = amount_fen + 1 WHERE region_code = '330502'")
      }
      Issue.record("the database let a budget be overspent")
    } catch {
      let status = RPCError.status(of: error)
      #expect(status?.code == .failedPrecondition && status?.message.contains("budget.exceeded") == true, "\(error)")
    }
  }

  /// A critical finding holds the institution's pending payments; verifying every critical order
  /// of that inspection releases them. Each event applied once.
  @Test func aCriticalFindingHoldsPaymentsUntilVerified() async throws {
    let f = try await Fixture.start()
    defer { Task { await f.stop() } }
    try await f.fileInRegistry()
    try await f.budgets(.seatAward, city: 1_000_000, county: 1_000_000)
    #expect(try await f.acceptance(1, seats: 10, cursor: 1))
    let r = try await f.client([reviewer], subject: "r")
    let id = try await r.listApplications(.init()).applications[0].applicationID
    _ = try await r.reviewApplications(
      .with {
        $0.requestID = "rv"; $0.applicationIds = [id]
      })
    try await f.inspectionEvent(
      "inspection.finalised",
      Tuoyu_Inspection_V1_InspectionEvent.with {
        $0.inspectionID = 41
        $0.creditCode = code
        $0.inspectedOn = "2025-06-05"
        $0.criticalFailures = 2
      }, cursor: 2)
    let finance = try await f.client([approver], subject: "finance-1")
    #expect(try await finance.getApplication(.with { $0.applicationID = id }).onHold)
    await expectCode(.failedPrecondition, rule: "payment.on-hold") {
      _ = try await finance.approveApplications(
        .with {
          $0.requestID = "a"; $0.applicationIds = [id]
        })
    }
    let held = try await finance.getReport(.with { $0.year = 2025 })
    #expect(held.rows.filter { $0.held.fen > 0 }.map(\.held.fen).sorted() == [800_000, 1_200_000])
    func verified(_ order: Int64, _ severity: String, cursor: Int64) async throws {
      try await f.inspectionEvent(
        "order.verified",
        Tuoyu_Inspection_V1_OrderEvent.with {
          $0.orderID = order
          $0.inspectionID = 41
          $0.creditCode = code
          $0.severity = severity
          $0.verifiedOn = "2025-06-08"
        }, cursor: cursor)
    }
    try await verified(1, "critical", cursor: 3)
    try await verified(2, "major", cursor: 4)
    // One of two critical orders verified (a major one does not count): still held.
    #expect(try await finance.listHolds(.with { $0.activeOnly = true }).holds.count == 1)
    try await verified(3, "critical", cursor: 5)
    let holds = try await finance.listHolds(.init())
    #expect(holds.holds.map(\.releasedOn) == ["2025-06-08"] && holds.holds[0].verified == 2)
    _ = try await finance.approveApplications(
      .with {
        $0.requestID = "a2"; $0.applicationIds = [id]
      })
  }

  /// Children through the vault, enrolments and monthly claims: one per child per month whoever
  /// claims; entitled children only.
  @Test func monthlyClaimsOncePerChildAndMonth() async throws {
    let f = try await Fixture.start()
    defer { Task { await f.stop() } }
    try await f.fileInRegistry()
    try await f.institutionView(version: 1)
    let admin = try await f.client([SubsidyService.admin], subject: "admin")
    _ = try await admin.putPolicy(
      .with {
        $0.requestID = "p"
        $0.year = 2025
        $0.regionCode = "330500"
        $0.awardPerSeat.fen = 200_000
        $0.cityShare = 4
        $0.countyShare = 6
        $0.enrolmentMonthly.fen = 30_000
        $0.milkMonthly.fen = 10_000
        $0.reason = "市政府 2025 年托育补助"
      })
    let c = try await f.client([officer], subject: "officer-1")
    var children: [Int64] = []
    for (i, (birth, local, hardship)) in [
      ("20240105", true, false), ("20230301", true, true), ("20220101", true, false), ("20240610", false, true),
    ].enumerated() {
      let child = try await c.registerChild(
        .with {
          $0.requestID = "child-\(i)"
          $0.idNumber = idNumber(birth, i + 1)
          $0.localHukou = local
          $0.countyCode = "330502"
          $0.hardship = hardship
        })
      #expect(child.idNumber.contains("*") && !child.idNumber.contains(birth))
      _ = try await c.enrolChild(
        .with {
          $0.requestID = "enrol-\(i)"
          $0.childID = child.childID
          $0.creditCode = code
          $0.startOn = date("2025-03-01")
        })
      children.append(child.childID)
    }
    // The ID number is nowhere in the schema plain.
    let dump = try await f.subsidy.pool.withConnection {
      try await $0.query("SELECT string_agg(c::text, ' ') FROM child c")[0].decode(String.self, at: 0)
    }
    #expect(!dump.contains(idNumber("20240105", 1)))
    // Twice registered: refused.
    await expectCode(.alreadyExists, rule: "child.unique-id-number") {
      _ = try await c.registerChild(
        .with {
          $0.requestID = "child-again"; $0.idNumber = idNumber("20240105", 1); $0.countyCode = "330502"
        })
    }
    // A bad ID number is refused without quoting it.
    do {
      _ = try await c.registerChild(
        .with {
          $0.requestID = "bad"; $0.idNumber = "330502202401050019"; $0.countyCode = "330502"
        })
      Issue.record("accepted a bad check character")
    } catch let e as RPCError {
      #expect(e.code == .invalidArgument && !e.message.contains("330502202401050019"))
    }
    // An unknown county is refused.
    await expectCode(.invalidArgument, rule: "region.known") {
      _ = try await c.registerChild(
        .with {
          $0.requestID = "unknown"; $0.idNumber = idNumber("20240105", 9); $0.countyCode = "330599"
        })
    }

    // The month: children 0 and 1 are entitled (local, under three, enrolled at a filed 普惠 institution).
    let month = Tuoyu_Common_V1_Date.with {
      $0.year = 2025; $0.month = 6
    }
    let claimed = try await c.claimMonth(
      .with {
        $0.requestID = "m-6"; $0.programme = .enrolment; $0.countyCode = "330502"; $0.month = month
      })
    #expect(claimed.created == 2 && claimed.alreadyClaimed == 0 && claimed.amount.fen == 60_000)
    // An institution claiming one of them again: refused, once per child and month.
    let inst = try await f.client([SubsidyService.institutionRole], subject: "inst", institution: code)
    await expectCode(.alreadyExists, rule: "claim.once-per-month") {
      _ = try await inst.claimChild(
        .with {
          $0.requestID = "c-0"; $0.programme = .enrolment; $0.childID = children[0]; $0.month = month
        })
    }
    // Over three: refused with the reason.
    await expectCode(.failedPrecondition, rule: "claim.under-three") {
      _ = try await c.claimChild(
        .with {
          $0.requestID = "c-2"; $0.programme = .enrolment; $0.childID = children[2]; $0.month = month
        })
    }
    // Not local: no enrolment subsidy; hardship: milk.
    await expectCode(.failedPrecondition, rule: "claim.local-hukou") {
      _ = try await c.claimChild(
        .with {
          $0.requestID = "c-3"; $0.programme = .enrolment; $0.childID = children[3]; $0.month = month
        })
    }
    let milk = try await c.claimMonth(
      .with {
        $0.requestID = "milk-6"; $0.programme = .milk; $0.countyCode = "330502"; $0.month = month
      })
    #expect(milk.created == 2 && milk.amount.fen == 20_000)
    // The month again: nothing new.
    let again = try await c.claimMonth(
      .with {
        $0.requestID = "m-6b"; $0.programme = .enrolment; $0.countyCode = "330502"; $0.month = month
      })
    #expect(again.created == 0 && again.alreadyClaimed == 2)
    // A future month: refused.
    await expectCode(.invalidArgument, rule: "claim.not-future") {
      _ = try await c.claimMonth(
        .with {
          $0.requestID = "m-7"; $0.programme = .enrolment; $0.countyCode = "330502"
          $0.month = .with {
            $0.year = 2025; $0.month = 7
          }
        })
    }
    // Through the workflow within the county's and the city's budgets (4 : 6 of 300 yuan).
    try await f.budgets(.enrolment, city: 1_000, county: 1_000)
    let r = try await f.client([reviewer], subject: "r")
    let ids = try await r.listApplications(.with { $0.programme = .enrolment }).applications.map(\.applicationID)
    _ = try await r.reviewApplications(
      .with {
        $0.requestID = "rv"; $0.applicationIds = ids
      })
    let ok = try await f.client([approver], subject: "fin").approveApplications(
      .with {
        $0.requestID = "ap"; $0.applicationIds = ids
      })
    #expect(ok.applications == 2 && ok.amount.fen == 60_000)
    let paid = try await f.client([treasurer], subject: "t").disburse(
      .with {
        $0.requestID = "d"; $0.applicationIds = ids; $0.payer = .county; $0.reference = "WX-ENROL-2025-06"
      })
    #expect(paid.amount.fen == 36_000 && paid.applications == 2)
  }

  /// Finance withdraws an approved, unpaid award: the approval reversed in the ledger, the shares no
  /// longer owed, the budgets released; a paid one is not withdrawn; the county's reviewer cannot.
  @Test func anApprovedUnpaidApplicationIsWithdrawn() async throws {
    let f = try await Fixture.start()
    defer { Task { await f.stop() } }
    try await f.fileInRegistry()
    try await f.budgets(.seatAward, city: 1_000_000, county: 1_000_000)
    for i in 1...2 { #expect(try await f.acceptance(Int64(i), seats: 10, cursor: Int64(i))) }
    let r = try await f.client([reviewer], subject: "r")
    let fin = try await f.client([approver], subject: "fin")
    let ids = try await r.listApplications(.init()).applications.map(\.applicationID)
    _ = try await r.reviewApplications(
      .with {
        $0.requestID = "rv"; $0.applicationIds = ids
      })
    _ = try await fin.approveApplications(
      .with {
        $0.requestID = "ap"; $0.applicationIds = ids
      })
    _ = try await f.client([treasurer], subject: "t").disburse(
      .with {
        $0.requestID = "d"; $0.applicationIds = [ids[1]]; $0.payer = .county; $0.reference = "WX-1"
      })
    await expectCode(.failedPrecondition, rule: "workflow.order") {
      _ = try await r.rejectApplication(
        .with {
          $0.requestID = "x0"; $0.applicationID = ids[0]; $0.reason = "closed"
        })
    }
    let withdrawn = try await fin.rejectApplication(
      .with {
        $0.requestID = "x1"; $0.applicationID = ids[0]; $0.reason = "机构停办"
      })
    #expect(withdrawn.status == .rejected && withdrawn.rejectionReason == "机构停办")
    await expectCode(.failedPrecondition, rule: "withdrawal.unpaid") {
      _ = try await fin.rejectApplication(
        .with {
          $0.requestID = "x2"; $0.applicationID = ids[1]; $0.reason = "x"
        })
    }
    // Only the paid application's shares stay committed; the ledger's expense is its shares alone.
    #expect(try await f.subsidy.count("SELECT sum(committed_fen)::int FROM budget") == 2_000_000)
    let b = try await fin.getBalances(.init())
    #expect(b.totalFen == 0)
    #expect(b.balances.filter { $0.account == "expense" }.reduce(Int64(0)) { $0 + $1.balanceFen } == 2_000_000)
    #expect(try await f.subsidy.count("SELECT count(*) FROM share WHERE application_id = \(ids[0])") == 0)
  }

  /// A payer's statement against the ledger: a payment missing from it and a line the ledger does not know.
  @Test func reconciliationFindsMissingAndUnexpected() async throws {
    let f = try await Fixture.start()
    defer { Task { await f.stop() } }
    try await f.fileInRegistry()
    try await f.budgets(.seatAward, city: 1_000_000, county: 1_000_000)
    for i in 1...3 { #expect(try await f.acceptance(Int64(i), seats: 10, cursor: Int64(i))) }
    let r = try await f.client([reviewer], subject: "r")
    let ids = try await r.listApplications(.init()).applications.map(\.applicationID)
    _ = try await r.reviewApplications(
      .with {
        $0.requestID = "rv"; $0.applicationIds = ids
      })
    _ = try await f.client([approver], subject: "fin").approveApplications(
      .with {
        $0.requestID = "ap"; $0.applicationIds = ids
      })
    let t = try await f.client([treasurer], subject: "t")
    for (n, id) in ids.enumerated() {
      _ = try await t.disburse(
        .with {
          $0.requestID = "d-\(n)"; $0.applicationIds = [id]; $0.payer = .county; $0.reference = "WX-\(n)"
          $0.paidOn = date("2025-06-0\(n + 1)")
        })
    }
    let result = try await t.reconcile(
      .with {
        $0.requestID = "rec"
        $0.payer = .county
        $0.regionCode = "330502"
        $0.from = date("2025-06-01")
        $0.to = date("2025-06-30")
        $0.lines = [
          .with {
            $0.reference = "WX-0"; $0.amount.fen = 1_200_000; $0.paidOn = date("2025-06-01")
          },
          .with {
            $0.reference = "WX-2"; $0.amount.fen = 1_200_000; $0.paidOn = date("2025-06-03")
          },
          .with {
            $0.reference = "WX-9"; $0.amount.fen = 500; $0.paidOn = date("2025-06-03")
          },
        ]
      })
    #expect(result.matched.map(\.reference) == ["WX-0", "WX-2"])
    #expect(result.missing.map(\.reference) == ["WX-1"])
    #expect(result.unexpected.map(\.reference) == ["WX-9"])
    #expect(try await f.subsidy.count("SELECT missing + unexpected FROM reconciliation") == 2)
    // The city's statement names the city, not a county.
    await expectCode(.invalidArgument, rule: "payer.region") {
      _ = try await t.reconcile(
        .with {
          $0.requestID = "rec2"; $0.payer = .city; $0.regionCode = "330502"; $0.from = date("2025-06-01")
          $0.to = date("2025-06-30")
        })
    }
  }

  /// A property over the service: whatever sequence of approvals, payments and reversals, every
  /// ledger transaction sums to zero and the accounts agree with the shares and the budgets.
  @Test func theLedgerAlwaysBalances() async throws {
    let f = try await Fixture.start()
    defer { Task { await f.stop() } }
    try await f.fileInRegistry()
    try await f.budgets(.seatAward, city: 10_000_000, county: 10_000_000)
    var rng = SystemRandomNumberGenerator()
    let n = 16
    for i in 1...n {
      #expect(try await f.acceptance(Int64(i), seats: Int32.random(in: 1...200, using: &rng), cursor: Int64(i)))
    }
    let r = try await f.client([reviewer], subject: "r")
    let fin = try await f.client([approver], subject: "fin")
    let t = try await f.client([treasurer], subject: "t")
    let officerClient = try await f.client([officer], subject: "o")
    var ids = try await r.listApplications(.init()).applications.map(\.applicationID)
    ids.shuffle(using: &rng)
    for (k, id) in ids.enumerated() where k % 3 == 0 {
      _ = try await officerClient.assignUpperFunds(
        .with {
          // The first: more than any gross (nothing to pay).
          $0.requestID = "u-\(id)"; $0.applicationID = id
          $0.amount.fen = k == 0 ? 100_000_000 : Int64.random(in: 0...3_000_000, using: &rng)
          $0.document = "doc"
        })
    }
    _ = try await r.reviewApplications(
      .with {
        $0.requestID = "rv"; $0.applicationIds = ids
      })
    var payments: [Int64] = []
    for (step, id) in ids.enumerated() {
      let approved = try await fin.approveApplications(
        .with {
          $0.requestID = "a-\(id)"; $0.applicationIds = [id]
        })
      // Upper funds beyond the gross leave nothing to pay: settled at approval.
      let settled = approved.amount.fen == 0
      if settled { #expect(try await t.getApplication(.with { $0.applicationID = id }).status == .disbursed) }
      for payer in [Tuoyu_Subsidy_V1_Payer.city, .county] where !settled && Bool.random(using: &rng) {
        do {
          let p = try await t.disburse(
            .with {
              $0.requestID = "d-\(id)-\(payer)"; $0.applicationIds = [id]; $0.payer = payer;
              $0.reference = "R-\(id)-\(payer)"
            })
          payments.append(p.paymentID)
        } catch let e as RPCError where e.message.contains("payment.share") {
          // Upper funds left this payer nothing to pay.
        }
      }
      if step % 4 == 3, let p = payments.randomElement(using: &rng) {
        _ = try? await t.reversePayment(
          .with {
            $0.requestID = "rev-\(p)"; $0.paymentID = p; $0.reason = "test"
          })
      }
      // After every step: balanced transactions; expense = the shares; payable = the unpaid shares.
      #expect(
        try await f.subsidy.count(
          "SELECT count(*) FROM (SELECT txn_id FROM ledger_entry GROUP BY txn_id HAVING sum(amount_fen) <> 0) x") == 0)
      let b = try await t.getBalances(.init())
      #expect(b.totalFen == 0)
      let expense = b.balances.filter { $0.account == "expense" }.reduce(Int64(0)) { $0 + $1.balanceFen }
      let payable = b.balances.filter { $0.account == "payable" }.reduce(Int64(0)) { $0 + $1.balanceFen }
      let (shares, unpaid, committed, paid) = try await f.subsidy.pool.withConnection { db in
        try await db.query(
          """
          SELECT (SELECT coalesce(sum(amount_fen), 0)::bigint FROM share),
            (SELECT coalesce(sum(amount_fen), 0)::bigint FROM share WHERE payment_id IS NULL),
            (SELECT sum(committed_fen)::bigint FROM budget), (SELECT sum(paid_fen)::bigint FROM budget)
          """)[0].decode((Int64, Int64, Int64, Int64).self)
      }
      #expect(expense == shares && payable == -unpaid && committed == shares && paid == shares - unpaid)
    }
  }
}
