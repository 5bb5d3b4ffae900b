import API
import RegistryAPI
import RegistryCore
import ServiceKit
import Testing

@Suite struct CreditCodeTests {
  @Test(arguments: [
    ("91330502MA2B3C4D5E", false),  // made up: wrong check character
    ("91350100M000100Y43", true),  // check character verified independently (Python, the same weights)
  ])
  func knownCodes(code: String, valid: Bool) {
    #expect((CreditCode.problem(code) == nil) == valid, "\(code): \(CreditCode.problem(code) ?? "valid")")
  }

  @Test func completedCodesValidateAndEveryOtherCheckCharacterFails() throws {
    let code = try #require(CreditCode.complete("91330502MA2B3C4D5"))
    #expect(CreditCode.problem(code) == nil)
    let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
    var wrong = 0
    for c in alphabet where c != code.last! {
      if CreditCode.problem(String(code.dropLast()) + String(c)) != nil { wrong += 1 }
    }
    #expect(wrong == 30)
  }

  @Test(arguments: [
    ("", "18 characters"), ("91330502MA2B3C4D5", "18 characters"), ("91330502MA2B3C4D5EE", "18 characters"),
    ("91330502ma2b3c4d5e", "not allowed"), ("9133050IMA2B3C4D5E", "not allowed"), ("9133050OMA2B3C4D5E", "not allowed"),
  ])
  func malformed(code: String, message: String) {
    #expect(CreditCode.problem(code)?.contains(message) == true, "\(code)")
  }
}

@Suite struct LocalDateTests {
  @Test func ordinalRoundTripsAndWeekdays() throws {
    let d = try #require(LocalDate("2026-11-23"))
    #expect(d.weekday == 0)  // a Monday
    #expect(LocalDate(ordinal: d.ordinal) == d)
    #expect(LocalDate(ordinal: 0) == LocalDate("1970-01-01"))
    #expect(LocalDate("2024-02-29") != nil)
    #expect(LocalDate("2025-02-29") == nil)
    #expect(LocalDate("2025-13-01") == nil)
    // 5 working days from a Thursday skip the weekend.
    #expect(LocalDate("2026-11-26")!.adding(workingDays: 5) == LocalDate("2026-12-03"))
  }
}

@Suite struct RulePackTests {
  let pack = RulePack(
    RulePack.national.values + [
      // Huzhou (city) makes infant classes smaller from 2025; one county tries to loosen toddlers.
      .init(.infantClassMax, region: "330500", from: LocalDate("2025-01-01")!, 8),
      .init(.toddlerClassMax, region: "330502", from: LocalDate("2025-01-01")!, 18),
      .init(.familyMinTenureYears, region: "330521", from: LocalDate("2025-06-01")!, 5),
    ])

  @Test(arguments: [
    (RulePack.Key.infantClassMax, "2019-10-07", "330502", nil as Int?),  // before the national standard
    (.infantClassMax, "2019-10-08", "330502", 10),
    (.infantClassMax, "2024-12-31", "330502", 10),
    (.infantClassMax, "2025-01-01", "330502", 8),  // the city's stricter value
    (.toddlerClassMax, "2025-06-01", "330502", 15),  // a looser local value does not apply
    (.familyMaxChildren, "2023-10-15", "330502", nil),
    (.familyMaxChildren, "2023-10-16", "330502", 5),
    (.familyMinTenureYears, "2025-06-01", "330521", 5),  // a floor: the higher is stricter
    (.familyMinTenureYears, "2025-06-01", "330522", 3),
  ])
  func valueInForce(key: RulePack.Key, date: String, county: String, expected: Int?) {
    #expect(pack.value(key, on: LocalDate(date)!, county: county, city: "330500") == expected)
  }
}

/// Facts of a small private centre in 吴兴区 that pass every rule.
func goodFacts() -> FilingFacts {
  .with {
    $0.mode = .privateCentre
    $0.careTypes = [.fullDay]
    $0.inclusive = true
    $0.monthlyFee.fen = 180_000
    $0.townshipCode = "330502001"
    $0.address = "湖州市吴兴区示例路 1 号"
    $0.seats.infant = .with {
      $0.classes = 1; $0.seats = 10
    }
    $0.seats.toddler = .with {
      $0.classes = 2; $0.seats = 30
    }
  }
}

@Suite struct FilingRulesTests {
  func ctx(_ date: String = "2026-03-01", average: Int64? = 250_000, known: Bool = true) -> FilingContext {
    FilingContext(
      date: LocalDate(date)!, pack: .national, county: known ? "330502" : nil, city: "330500",
      countyAverageFee: average)
  }

  func rules(_ f: FilingFacts, _ c: FilingContext? = nil) -> [String] {
    FilingRules.facts(f, c ?? ctx()).map(\.rule)
  }

  @Test func goodFactsPass() {
    #expect(rules(goodFacts()) == [])
  }

  @Test(
    arguments: [
      (
        "infant 11 in one class", { @Sendable (f: inout FilingFacts) in f.seats.infant.seats = 11 },
        "class.infant.max-children"
      ),
      (
        "toddler 31 in two", { @Sendable (f: inout FilingFacts) in f.seats.toddler.seats = 31 },
        "class.toddler.max-children"
      ),
      (
        "older 21 in one",
        { @Sendable (f: inout FilingFacts) in
          f.seats.olderToddler = .with {
            $0.classes = 1; $0.seats = 21
          }
        }, "class.older-toddler.max-children"
      ),
      (
        "mixed 19 in one",
        { @Sendable (f: inout FilingFacts) in
          f.seats.mixed = .with {
            $0.classes = 1; $0.seats = 19
          }
        }, "class.mixed.max-children"
      ),
      (
        "seats without classes", { @Sendable (f: inout FilingFacts) in f.seats.infant.classes = 0 },
        "class.infant.max-children"
      ),
      ("negative seats", { @Sendable (f: inout FilingFacts) in f.seats.toddler.seats = -1 }, "seats.non-negative"),
      ("no seats", { @Sendable (f: inout FilingFacts) in f.seats = .init() }, "filing.seats-required"),
      (
        "fee at the average", { @Sendable (f: inout FilingFacts) in f.monthlyFee.fen = 250_000 },
        "inclusive.fee-below-county-average"
      ),
      ("普惠 without a fee", { @Sendable (f: inout FilingFacts) in f.monthlyFee.fen = 0 }, "inclusive.fee-required"),
      (
        "negative fee",
        { @Sendable (f: inout FilingFacts) in
          f.inclusive = false; f.monthlyFee.fen = -1
        }, "filing.fee"
      ),
      ("bad township", { @Sendable (f: inout FilingFacts) in f.townshipCode = "33050200" }, "region.township-code"),
      ("no mode", { @Sendable (f: inout FilingFacts) in f.mode = .unspecified }, "filing.mode"),
      ("no care type", { @Sendable (f: inout FilingFacts) in f.careTypes = [] }, "filing.care-types"),
      ("no address", { @Sendable (f: inout FilingFacts) in f.address = " " }, "filing.address"),
      (
        "family seats in a centre", { @Sendable (f: inout FilingFacts) in f.seats.family = 3 },
        "seats.family-only-for-family-points"
      ),
    ] as [(String, @Sendable (inout FilingFacts) -> Void, String)])
  func refusedFacts(name: String, change: @Sendable (inout FilingFacts) -> Void, rule: String) {
    var f = goodFacts()
    change(&f)
    #expect(rules(f).contains(rule), "\(name): \(rules(f))")
  }

  @Test func feeBelowAverageAndNonInclusiveFeesPass() {
    var f = goodFacts()
    f.monthlyFee.fen = 249_999
    #expect(rules(f) == [])
    f.inclusive = false
    f.monthlyFee.fen = 900_000
    #expect(rules(f) == [])
    // Without a county average, 普惠 cannot be judged.
    #expect(rules(goodFacts(), ctx(average: nil)) == ["inclusive.county-average-fee-known"])
    #expect(rules(goodFacts(), ctx(known: false)) == ["region.known-township"])
  }

  @Test func classSizesFollowTheDate() {
    var f = goodFacts()
    f.seats.infant.seats = 10
    let stricter = RulePack(
      RulePack.national.values + [.init(.infantClassMax, region: "330500", from: LocalDate("2025-01-01")!, 8)])
    let before = FilingContext(
      date: LocalDate("2024-12-31")!, pack: stricter, county: "330502", city: "330500", countyAverageFee: 250_000)
    let after = FilingContext(
      date: LocalDate("2025-01-01")!, pack: stricter, county: "330502", city: "330500", countyAverageFee: 250_000)
    #expect(FilingRules.facts(f, before).isEmpty)
    #expect(FilingRules.facts(f, after).map(\.rule) == ["class.infant.max-children"])
  }

  func family(_ children: Int32, carers: Int32, tenure: Int32, date: String = "2026-03-01") -> [String] {
    var f = goodFacts()
    f.mode = .familyCarePoint
    f.seats = .with { $0.family = children }
    f.carers = carers
    f.premisesTenureYears = tenure
    return rules(f, ctx(date))
  }

  @Test func familyCarePointLimits() {
    #expect(family(5, carers: 2, tenure: 3) == [])
    #expect(family(6, carers: 2, tenure: 3) == ["family.max-children"])
    #expect(family(4, carers: 1, tenure: 3) == ["family.children-per-carer"])
    #expect(family(3, carers: 1, tenure: 2) == ["family.min-premises-tenure-years"])
    #expect(family(3, carers: 1, tenure: 3, date: "2023-10-15") == ["family.rules-in-force"])
    var f = goodFacts()
    f.mode = .familyCarePoint
    f.seats.family = 3
    f.carers = 1
    f.premisesTenureYears = 3
    #expect(rules(f).filter { $0 == "family.no-classes" }.count == 2)
  }

  @Test func materials() {
    var m = FilingMaterials.with {
      $0.siteProof = "lease 2024-001"
      $0.hygieneEvaluationPassed = true
      $0.fireSafetyCertificate = "XF-1"
      $0.staffQualificationsAttached = true
      $0.staffHealthCertificatesAttached = true
    }
    #expect(FilingRules.materials(m, servesMeals: false).isEmpty)
    #expect(FilingRules.materials(m, servesMeals: true).map(\.rule) == ["filing.materials.food-licence"])
    m.hygieneEvaluationPassed = false
    m.fireSafetyCertificate = ""
    #expect(
      FilingRules.materials(m, servesMeals: false).map(\.rule)
        == ["filing.materials.hygiene-evaluation", "filing.materials.fire-safety"])
  }
}

@Suite struct LifecycleTests {
  typealias S = InstitutionStatus
  typealias A = Lifecycle.Action

  /// Every action from every status: what is allowed leads where the lifecycle says; the rest is refused.
  @Test func everyTransition() {
    let allowed: [A: [S: S]] = [
      .submitFiling: [.registered: .filingSubmitted, .filingRefused: .filingSubmitted],
      .file: [.filingSubmitted: .filed],
      .refuse: [.filingSubmitted: .filingRefused],
      .change: [.filed: .filed],
      .suspend: [.filed: .suspended],
      .reinstate: [.suspended: .filed],
      .revoke: [.filed: .revoked, .suspended: .revoked],
      .close: [
        .registered: .closed, .filingSubmitted: .closed, .filingRefused: .closed, .filed: .closed, .suspended: .closed,
      ],
      .register: [:],
    ]
    let statuses: [S] = [.registered, .filingSubmitted, .filed, .filingRefused, .suspended, .revoked, .closed]
    var checked = 0
    for action in A.allCases {
      for status in statuses {
        let expected = allowed[action]![status]
        do {
          let next = try Lifecycle.next(from: status, action)
          #expect(next == expected, "\(action) from \(status)")
        } catch {
          #expect(expected == nil, "\(action) from \(status) refused: \(error)")
          #expect(error.rule.hasPrefix("lifecycle."))
        }
        checked += 1
      }
    }
    #expect(checked == 63)
  }
}
