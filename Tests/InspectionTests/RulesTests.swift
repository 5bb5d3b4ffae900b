import InspectionCore
import ServiceKit
import Testing

func day(_ s: String) -> LocalDate { LocalDate(s)! }

@Suite struct DeadlineRulesTests {
  @Test(
    arguments: [
      (Severity.critical, "2025-06-02", "2025-06-05"), (.major, "2025-06-02", "2025-06-17"),
      (.minor, "2025-06-02", "2025-07-02"), (.minor, "2025-12-15", "2026-01-14"),
      (.critical, "2024-02-27", "2024-03-01"),
    ])
  func deadlines(severity: Severity, inspected: String, due: String) {
    #expect(DeadlineRules.standard.deadline(severity, inspected: day(inspected)) == day(due))
  }

  @Test func theVersionInForceIsTheLatestThatTookEffect() {
    let strict = DeadlineRules(days: [.critical: 1, .major: 7, .minor: 15], effectiveFrom: day("2026-01-01"))
    let versions = [DeadlineRules.standard, strict]
    #expect(DeadlineRules.inForce(versions, on: day("2025-12-31")) == .standard)
    #expect(DeadlineRules.inForce(versions, on: day("2026-01-01")) == strict)
    #expect(DeadlineRules.inForce(versions, on: day("2019-12-31")) == nil)
  }

  @Test(
    arguments: [
      // status, deadline, reported on, as of, overdue?
      (OrderStatus.open, "2025-06-17", nil as String?, "2025-06-17", false),
      (.open, "2025-06-17", nil, "2025-06-18", true),
      (.rectified, "2025-06-17", "2025-06-16", "2025-07-30", false),
      (.rectified, "2025-06-17", "2025-06-20", "2025-06-21", true),
      (.rectified, "2025-06-17", "2025-06-20", "2025-06-17", false),
      (.verified, "2025-06-17", "2025-06-20", "2025-12-31", false),
    ])
  func overdue(status: OrderStatus, deadline: String, reported: String?, asOf: String, overdue: Bool) {
    #expect(
      OrderLifecycle.overdue(status: status, deadline: day(deadline), reportedOn: reported.map(day), asOf: day(asOf))
        == overdue)
  }

  @Test(
    arguments: [
      (OrderStatus.open, OrderLifecycle.Step.report, OrderStatus.rectified as OrderStatus?),
      (.open, .verify, nil), (.rectified, .verify, .verified), (.rectified, .reject, .open), (.verified, .report, nil),
      (.verified, .reject, nil),
    ])
  func orderSteps(from: OrderStatus, step: OrderLifecycle.Step, to: OrderStatus?) {
    switch OrderLifecycle.next(from, step) {
    case .success(let s): #expect(s == to)
    case .failure(let r):
      #expect(to == nil)
      #expect(r.rule == "order.transition")
    }
  }
}

@Suite struct CreditRulesTests {
  @Test(
    arguments: [
      ([Severity](), 0, 100, "A"), ([.minor], 0, 98, "A"), ([.minor, .minor, .major], 0, 91, "A"),
      ([.major, .major], 0, 90, "A"), ([.major, .major, .minor], 0, 88, "B"), ([.critical], 0, 80, "C"),
      ([], 1, 90, "A"), ([], 2, 80, "B"), ([.major], 3, 65, "C"), ([.critical, .critical], 0, 60, "C"),
      ([.critical, .critical, .minor], 0, 58, "D"),
      ([.critical, .critical, .critical, .critical, .critical, .critical], 0, 0, "D"),
      ([], Int.max, 0, "D"), ([], -5, 100, "A"),
    ])
  func grades(failures: [Severity], overdue: Int, score: Int, grade: String) {
    let e = CreditRules.standard.evaluate(failures: failures, overdueOrders: overdue)
    #expect(e.score == score)
    #expect(e.grade == grade)
  }

  /// The score, computed the long way, over every small combination: never below 0, never above
  /// 100, never higher with more findings.
  @Test func scoresAgreeWithTheLongWayAndOnlyFall() {
    for minor in 0...6 {
      for major in 0...5 {
        for critical in 0...3 {
          for overdue in 0...4 {
            let failures =
              Array(repeating: Severity.minor, count: minor) + Array(repeating: .major, count: major)
              + Array(repeating: .critical, count: critical)
            let e = CreditRules.standard.evaluate(failures: failures, overdueOrders: overdue)
            #expect(e.score == max(0, 100 - 2 * minor - 5 * major - 20 * critical - 10 * overdue))
            let worse = CreditRules.standard.evaluate(failures: failures + [.minor], overdueOrders: overdue)
            #expect(worse.score <= e.score)
            #expect(worse.grade >= e.grade)
          }
        }
      }
    }
  }

  @Test(arguments: [("2025-06-02", "2024-06-03"), ("2024-02-29", "2023-03-01"), ("2025-01-01", "2024-01-02")])
  func window(day d: String, start: String) {
    #expect(CreditRules.windowStart(day(d)) == day(start))
  }
}

@Suite struct AcceptanceRulesTests {
  @Test(
    arguments: [
      // seats, 普惠 seats filed, accepted before, filed?, rule refused
      (10, 60, 0, true, nil as String?), (60, 60, 0, true, nil), (61, 60, 0, true, "acceptance.once"),
      (11, 60, 50, true, "acceptance.once"), (10, 60, 50, true, nil), (1, 60, 60, true, "acceptance.once"),
      (0, 60, 0, true, "acceptance.seats"), (10, 60, 0, false, "acceptance.filed"),
    ])
  func county(seats: Int, inclusive: Int, before: Int, filed: Bool, rule: String?) {
    #expect(
      AcceptanceRules.countyRefusal(seats: seats, inclusiveSeats: inclusive, alreadyAccepted: before, filed: filed)?
        .rule == rule)
  }

  @Test(
    arguments: [
      (100, 100, "", nil as String?), (100, 80, "两个班未达标", nil), (100, 80, "  ", "acceptance.adjust-reason"),
      (100, 101, "x", "acceptance.confirm-range"), (100, -1, "x", "acceptance.confirm-range"), (100, 0, "全部未达标", nil),
    ])
  func city(accepted: Int, confirmed: Int, reason: String, rule: String?) {
    #expect(AcceptanceRules.cityRefusal(accepted: accepted, confirmed: confirmed, reason: reason)?.rule == rule)
  }
}

@Suite struct PlanRulesTests {
  @Test func shortfallAndCoverage() {
    let required: [PlanRules.Level: Int] = [.township: 4, .county: 2, .city: 1]
    let done: [String: [PlanRules.Level: Int]] = [
      "A": [.township: 4, .county: 2, .city: 1], "B": [.township: 5, .county: 1], "C": [:],
    ]
    let short = PlanRules.shortfall(required: required, done: done, institutions: ["A", "B", "C"])
    #expect(short["A"] == nil)
    #expect(short["B"] == [.county: 1, .city: 1])
    #expect(short["C"] == [.township: 4, .county: 2, .city: 1])
    #expect(PlanRules.coveragePermille(institutions: 3, short: short.count) == 333)
    #expect(PlanRules.coveragePermille(institutions: 0, short: 0) == 1000)
  }
}
