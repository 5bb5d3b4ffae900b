import PropertyBased
import ServiceKit
@testable import SubsidyCore
import Testing

func day(_ s: String) -> LocalDate { LocalDate(s)! }

@Suite struct SplitTests {
  /// gross, upper funds, shares → payable, city, county.
  @Test(arguments: [
    // 100 seats × 2,000 yuan, no upper funds, 4 : 6: 80,000 and 120,000 yuan.
    (Int64(20_000_000), Int64(0), Int32(4), Int32(6), Int64(20_000_000), Int64(8_000_000), Int64(12_000_000)),
    // One seat.
    (200_000, 0, 4, 6, 200_000, 80_000, 120_000),
    // Odd fen: the city's part is floored, the county takes the rest.
    (1, 0, 4, 6, 1, 0, 1),
    (3, 0, 4, 6, 3, 1, 2),
    (7, 0, 4, 6, 7, 2, 5),
    (199_999, 0, 4, 6, 199_999, 79_999, 120_000),
    // Upper funds deducted first.
    (200_000, 50_001, 4, 6, 149_999, 59_999, 90_000),
    // Upper funds equal to or larger than the gross: nothing to pay, never negative.
    (200_000, 200_000, 4, 6, 0, 0, 0),
    (200_000, 9_000_000, 4, 6, 0, 0, 0),
    // Other shares.
    (1_000, 0, 1, 0, 1_000, 1_000, 0),
    (1_000, 0, 0, 1, 1_000, 0, 1_000),
    (1_000, 0, 1, 2, 1_000, 333, 667),
  ])
  func split(_ c: (Int64, Int64, Int32, Int32, Int64, Int64, Int64)) throws {
    let s = try #require(Split.of(gross: c.0, upperFen: c.1, cityShare: c.2, countyShare: c.3))
    #expect(s.payable == c.4)
    #expect(s.city == c.5)
    #expect(s.county == c.6)
    #expect(s.city + s.county == s.payable)
  }

  @Test func sharesThatCannotSplitAreRefused() {
    #expect(Split.of(gross: 10, upperFen: 0, cityShare: 0, countyShare: 0) == nil)
    #expect(Split.of(gross: 10, upperFen: 0, cityShare: -1, countyShare: 6) == nil)
    #expect(Split.of(gross: -1, upperFen: 0, cityShare: 4, countyShare: 6) == nil)
    #expect(Split.of(gross: 10, upperFen: -1, cityShare: 4, countyShare: 6) == nil)
    // Int32.max shares do not overflow.
    #expect(Split.of(gross: 10, upperFen: 0, cityShare: .max, countyShare: .max)?.city == 5)
  }

  @Test func grossOfSeats() {
    #expect(Split.gross(seats: 100, perSeatFen: 200_000) == 20_000_000)
    #expect(Split.gross(seats: 1, perSeatFen: 200_000) == 200_000)
    #expect(Split.gross(seats: .max, perSeatFen: .max) == nil)
    #expect(Split.gross(seats: -1, perSeatFen: 1) == nil)
  }

  /// For any amounts: the parts add up, neither is negative, and the city's part is the floor of
  /// its share (compared in 128 bits).
  @Test func partsAlwaysAddUp() async {
    await propertyCheck(
      count: 5000, input: Gen.int64(in: 0...Int64.max), Gen.int64(in: 0...Int64.max), Gen.int(in: 0...100),
      Gen.int(in: 0...100)
    ) { gross, upper, city, county in
      guard city + county > 0 else { return }
      let s = Split.of(gross: gross, upperFen: upper, cityShare: Int32(city), countyShare: Int32(county))!
      #expect(s.payable == max(0, gross - upper))
      #expect(s.city >= 0 && s.county >= 0)
      #expect(s.city + s.county == s.payable)
      #expect(Int128(s.city) == Int128(s.payable) * Int128(city) / Int128(city + county))
    }
  }
}

@Suite struct EntitlementTests {
  @Test(arguments: [
    ("2023-06-15", "2026-06-01", true),  // 35 months and a half
    ("2023-06-01", "2026-06-01", false),  // exactly 36 months
    ("2023-06-02", "2026-06-01", true),
    ("2023-05-31", "2026-06-01", false),
    ("2024-02-29", "2027-02-01", true),
    ("2024-02-29", "2027-03-01", false),  // the third birthday of a 29 February child is 1 March
    ("2026-06-01", "2026-06-01", true),  // born on the first day
    ("2026-06-02", "2026-06-01", false),  // not yet born on the first day
  ])
  func underThree(_ c: (String, String, Bool)) {
    #expect(Entitlement.underThree(birth: day(c.0), monthStart: day(c.1)) == c.2)
  }

  @Test func enrolmentAndMilkRules() {
    let m = day("2026-06-01")
    let b = day("2025-01-10")
    func rule(
      _ p: Programme, local: Bool = true, hardship: Bool = false, inst: (Bool, Bool)? = (true, true),
      fen: Int64 = 30_000,
      birth: LocalDate = day("2025-01-10")
    ) -> String? {
      Entitlement.refusal(
        p, birth: birth, localHukou: local, hardship: hardship, monthStart: m,
        institution: inst.map { (filed: $0.0, inclusive: $0.1) }, monthlyFen: fen)?.rule
    }
    #expect(rule(.enrolment) == nil)
    #expect(rule(.enrolment, local: false) == "claim.local-hukou")
    #expect(rule(.enrolment, inst: nil) == "claim.enrolled")
    #expect(rule(.enrolment, inst: (false, true)) == "claim.inclusive-filed")
    #expect(rule(.enrolment, inst: (true, false)) == "claim.inclusive-filed")
    #expect(rule(.enrolment, fen: 0) == "policy.no-subsidy")
    #expect(rule(.enrolment, birth: day("2023-01-10")) == "claim.under-three")
    #expect(rule(.milk, local: false, hardship: true, inst: nil) == nil)
    #expect(rule(.milk) == "claim.hardship")
    #expect(rule(.seatAward) == "claim.monthly")
    _ = b
  }
}

@Suite struct WorkflowTests {
  @Test(arguments: [
    (Workflow.Step.review, ApplicationStatus.submitted, "b", nil as String?),
    (.review, .reviewed, "b", "workflow.order"),
    (.approve, .submitted, "c", "workflow.order"),
    (.approve, .reviewed, "c", nil),
    // Maker-checker: neither the creator nor the reviewer approves.
    (.approve, .reviewed, "a", "approval.maker-checker"),
    (.approve, .reviewed, "b", "approval.maker-checker"),
    (.approve, .approved, "c", "workflow.order"),
    (.reject, .submitted, "b", nil),
    (.reject, .reviewed, "c", nil),
    (.reject, .approved, "c", "workflow.order"),
    (.reject, .disbursed, "c", "workflow.order"),
    (.reject, .rejected, "c", "workflow.order"),
  ])
  func step(_ c: (Workflow.Step, ApplicationStatus, String, String?)) {
    let refusal = Workflow.refusal(
      c.0, status: c.1, actor: c.2, createdBy: "a", reviewedBy: c.1 == .submitted ? "" : "b")
    #expect(refusal?.rule == c.3)
  }

  @Test func financeWithdrawsAnApprovedApplication() {
    #expect(
      Workflow.refusal(.reject, status: .approved, actor: "c", createdBy: "a", reviewedBy: "b", finance: true) == nil)
    #expect(
      Workflow.refusal(.reject, status: .disbursed, actor: "c", createdBy: "a", reviewedBy: "b", finance: true)?.rule
        == "workflow.order")
  }
}

@Suite struct LedgerAndReconciliationTests {
  @Test func everyMovementBalances() async {
    await propertyCheck(count: 2000, input: Gen.int64(in: 1...1_000_000_000_000), Gen.int(in: 0...2)) { fen, kind in
      let entries: [Entry] =
        switch kind {
        case 0: Entry.approval(.city, region: "330500", fen: fen)
        case 1: Entry.disbursement(.county, region: "330502", fen: fen)
        default: Entry.reversal(of: Entry.disbursement(.city, region: "330500", fen: fen))
        }
      #expect(entries.reduce(0) { $0 + $1.fen } == 0)
      #expect(entries.allSatisfy { $0.fen != 0 })
    }
  }

  @Test func statementMatching() {
    let ledger = [("P-1", Int64(100), Int64(1)), ("P-2", 200, 2), ("P-3", 300, 3)].map {
      (reference: $0.0, fen: $0.1, paymentID: $0.2)
    }
    let r = Reconciliation.match(
      ledger: ledger,
      statement: [("P-1", 100), ("P-3", 301), ("X-9", 50), ("P-1", 100)].map { (reference: $0.0, fen: Int64($0.1)) })
    #expect(r.matched.map(\.reference) == ["P-1"])
    #expect(r.missing.map(\.reference) == ["P-2"])
    // Another amount, an unknown reference and a reference twice are unexpected.
    #expect(r.unexpected.map(\.reference) == ["P-3", "X-9", "P-1"])
    #expect(r.unexpected[0].ledgerFen == 300 && r.unexpected[0].statementFen == 301)
    let clean = Reconciliation.match(ledger: ledger, statement: ledger.map { ($0.reference, $0.fen) })
    #expect(clean.matched.count == 3 && clean.missing.isEmpty && clean.unexpected.isEmpty)
  }

  @Test func cityOfACounty() {
    #expect(cityOf("330502") == "330500")
    #expect(cityOf("330523") == "330500")
  }
}
