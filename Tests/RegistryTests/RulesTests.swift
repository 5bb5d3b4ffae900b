import API
import RegistryAPI
import RegistryCore
import ServiceKit
import RPC
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

  /// The National Day week of 2025: Oct 1–8 off, Saturday Oct 11 worked. A submission on Monday
  /// Sep 29 is due on Oct 13 (Sep 30, Oct 9, 10, 11, 13), not inside the holiday on Oct 6.
  @Test func workingDaysFollowTheCalendar() {
    var calendar: [LocalDate: Bool] = [:]
    for day in 1...8 { calendar[LocalDate(year: 2025, month: 10, day: day)!] = false }
    calendar[LocalDate("2025-09-28")!] = true
    calendar[LocalDate("2025-10-11")!] = true
    #expect(LocalDate("2025-09-29")!.adding(workingDays: 5) == LocalDate("2025-10-06"))
    #expect(LocalDate("2025-09-29")!.adding(workingDays: 5, calendar: calendar) == LocalDate("2025-10-13"))
    // A make-up Sunday counts: from Friday Sep 26, Sun 28 is the first working day.
    #expect(LocalDate("2025-09-26")!.adding(workingDays: 1, calendar: calendar) == LocalDate("2025-09-28"))
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

  /// A county's newer but looser value does not undo its city's stricter one.
  @Test func theStrictestOfNationCityAndCountyWins() {
    let p = RulePack(
      RulePack.national.values + [
        .init(.infantClassMax, region: "330500", from: LocalDate("2025-01-01")!, 7),
        .init(.infantClassMax, region: "330502", from: LocalDate("2025-06-01")!, 9),
      ])
    #expect(p.value(.infantClassMax, on: LocalDate("2025-07-01")!, county: "330502", city: "330500") == 7)
    #expect(p.value(.infantClassMax, on: LocalDate("2025-07-01")!, county: "330503", city: "330500") == 7)
  }

  @Test(arguments: [
    (RulePack.Key.infantClassMax, 11, "330500", nil as String?, true),  // looser than the national 10
    (.infantClassMax, 10, "330500", nil, false),  // as strict
    (.infantClassMax, 9, "330502", "330500", true),  // looser than its city's 8
    (.infantClassMax, 8, "330502", "330500", false),
    (.familyMinTenureYears, 2, "330521", "330500", true),  // a floor: lower is looser
    (.familyMinTenureYears, 4, "330521", "330500", false),
  ])
  func aLocalValueMayOnlyTighten(key: RulePack.Key, value: Int, region: String, city: String?, refused: Bool) {
    let refusal = pack.looserThanAbove(key, value: value, region: region, city: city, on: LocalDate("2025-07-01")!)
    #expect((refusal != nil) == refused)
    if let refusal { #expect(refusal.rule == "rules.local-not-looser") }
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
    let day = LocalDate("2025-06-02")!
    func doc(_ number: String, issued: String = "2025-01-02", expires: String? = nil) -> Tuoyu_Common_V1_Document {
      .with {
        $0.number = number
        $0.issuer = "湖州市吴兴区某局"
        $0.issued = LocalDate(issued)!.proto
        if let expires { $0.expires = LocalDate(expires)!.proto }
      }
    }
    var m = FilingMaterials.with {
      $0.siteProof = doc("lease 2024-001", expires: "2030-01-01")
      $0.hygieneEvaluation = doc("WS-1")
      $0.fireSafety = doc("XF-1")
      $0.staffQualifications = doc("ZG-1")
      $0.staffHealth = doc("JK-1")
    }
    #expect(FilingRules.materials(m, servesMeals: false, day: day).isEmpty)
    #expect(FilingRules.materials(m, servesMeals: true, day: day).map(\.rule) == ["filing.materials.food-licence"])
    // Valid on the filing's day: issued by it, expiring on it at the earliest.
    m.siteProof = doc("lease", issued: "2025-06-02", expires: "2025-06-02")
    #expect(FilingRules.materials(m, servesMeals: false, day: day).isEmpty)
    m.siteProof = doc("lease", issued: "2025-06-03")
    #expect(FilingRules.materials(m, servesMeals: false, day: day).map(\.rule) == ["document.issued-by-filing"])
    m.siteProof = doc("lease", issued: "2020-01-01", expires: "2025-06-01")
    #expect(FilingRules.materials(m, servesMeals: false, day: day).map(\.rule) == ["document.not-expired"])
    m.siteProof = doc("lease", issued: "2025-01-01", expires: "2024-01-01")
    #expect(
      FilingRules.materials(m, servesMeals: false, day: day).map(\.rule) == ["document.dates", "document.not-expired"])
    // Every part named: a number alone is not a document.
    m.siteProof = .with { $0.number = "lease" }
    let incomplete = FilingRules.materials(m, servesMeals: false, day: day)
    #expect(incomplete.map(\.rule) == ["document.complete"])
    #expect(incomplete.first?.message.contains("issuer, issue date") == true)
    // An impossible date is refused, not trapped on.
    m.siteProof = doc("lease")
    m.siteProof.issued.month = 13
    #expect(FilingRules.materials(m, servesMeals: false, day: day).map(\.rule) == ["document.dates"])
    m.siteProof = doc("lease")
    m.clearHygieneEvaluation()
    m.clearFireSafety()
    #expect(
      FilingRules.materials(m, servesMeals: false, day: day).map(\.rule)
        == ["filing.materials.hygiene-evaluation", "filing.materials.fire-safety"])
  }

  /// A credit code or authority from another county warns (a code stays with an institution that
  /// moves); the township's own county, or its city, says nothing.
  @Test func regionWarnings() {
    let pack = RulePack([])
    func ctx(division: (String, String)?) -> FilingContext {
      FilingContext(
        date: LocalDate("2025-06-02")!, pack: pack, county: "330502", city: "330500", countyAverageFee: nil,
        countyName: "吴兴区", otherCounties: [("330503", "南浔区"), ("330521", "德清县")],
        division: division.map { (code: $0.0, name: $0.1) })
    }
    func rules(_ code: String, _ authority: String, _ division: (String, String)?) -> [String] {
      Registration.regionWarnings(
        creditCode: code, authority: authority, township: "330502001", ctx(division: division)
      ).map(\.rule)
    }
    #expect(Registration.division("91330503MA2B3C4D5E") == "330503")
    #expect(Registration.division("9133050XMA2B3C4D5E") == nil)
    #expect(rules("91330502MA2B3C4D5E", "湖州市吴兴区民政局", ("330502", "吴兴区")).isEmpty)
    #expect(rules("91330500MA2B3C4D5E", "湖州市民政局", ("330500", "湖州市")).isEmpty)
    // Unknown to the registry (another province, an old code): nothing to say.
    #expect(rules("91110105MA2B3C4D5E", "北京市朝阳区民政局", nil).isEmpty)
    #expect(rules("91330503MA2B3C4D5E", "湖州市吴兴区民政局", ("330503", "南浔区")) == ["registration.credit-code-region"])
    #expect(rules("91330502MA2B3C4D5E", "湖州市南浔区民政局", ("330502", "吴兴区")) == ["registration.authority-region"])
    // Naming its own county as well (e.g. a joint office) is not another county's authority.
    #expect(rules("91330502MA2B3C4D5E", "吴兴区南浔区联合办", ("330502", "吴兴区")).isEmpty)
    let ws = Registration.regionWarnings(
      creditCode: "91330503MA2B3C4D5E", authority: "x", township: "330502001", ctx(division: ("330503", "南浔区")))
    #expect(ws.first?.message.contains("330503 南浔区") == true && ws.first?.field == "credit_code")
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

@Suite struct RegionRulesTests {
  static func put(
    _ code: String, _ level: Tuoyu_Registry_V1_RegionLevel, parent: String = "", name: String = "区",
    years: [(Int32, Int64)] = []
  ) -> Tuoyu_Registry_V1_PutRegionRequest {
    .with {
      $0.code = code
      $0.level = level
      $0.parentCode = parent
      $0.displayName = name
      $0.years = years.map { y in
        .with {
          $0.year = y.0; $0.population = y.1
        }
      }
    }
  }

  @Test(
    arguments: [
      (put("330500", .city), "city", [String]()),
      (put("330502", .county, parent: "330500"), "county", []),
      (put("330502001", .township, parent: "330502"), "township", []),
      (put("330502001", .county, parent: "330500"), "county", ["region.code"]),
      (put("330503001", .township, parent: "330502"), "township", ["region.township-prefix"]),
      (put("330500", .city, parent: "330000"), "city", ["region.parent"]),
      (put("330502", .county), "county", ["region.parent"]),
      (put("330502", .unspecified, parent: "330500"), "", ["region.level"]),
      (put("330502", .county, parent: "330500", name: " "), "county", ["region.name"]),
      (put("330502", .county, parent: "330500", years: [(2025, 1), (2025, 2)]), "county", ["region.year"]),
      (put("330502", .county, parent: "330500", years: [(1900, 1)]), "county", ["region.year"]),
      (put("330502", .county, parent: "330500", years: [(2025, -1)]), "county", ["region.figures-non-negative"]),
    ] as [(Tuoyu_Registry_V1_PutRegionRequest, String, [String])])
  func cases(request: Tuoyu_Registry_V1_PutRegionRequest, level: String, rules: [String]) {
    let (got, problems) = RegionRules.check(request)
    #expect(got == level)
    #expect(problems.map(\.rule) == rules)
  }
}

@Suite struct RegistrationRulesTests {
  @Test(
    arguments: [
      ("91350100M000100Y43", "托育", Tuoyu_Registry_V1_LegalNature.forProfit, "局", [String]()),
      ("91350100M000100Y44", "托育", .forProfit, "局", ["credit-code.gb32100"]),
      ("91350100M000100Y43", " ", .nonProfit, "局", ["institution.name"]),
      ("91350100M000100Y43", "托育", .unspecified, "局", ["institution.legal-nature"]),
      ("91350100M000100Y43", "托育", .forProfit, "", ["institution.registration-authority"]),
      (
        "", "", .unspecified, "",
        ["credit-code.gb32100", "institution.name", "institution.legal-nature", "institution.registration-authority"]
      ),
    ] as [(String, String, Tuoyu_Registry_V1_LegalNature, String, [String])])
  func cases(code: String, name: String, nature: Tuoyu_Registry_V1_LegalNature, authority: String, rules: [String]) {
    let problems = Registration.check(creditCode: code, name: name, nature: nature, authority: authority)
    #expect(problems.map(\.rule) == rules)
  }
}

@Suite struct IndicatorRulesTests {
  typealias R = IndicatorRules.Region
  static let tree: [R] = [
    R(code: "330500", name: "市", level: "city", parent: nil, population: 0, seatTarget: 500),
    R(code: "330502", name: "吴兴", level: "county", parent: "330500", population: 60_000, seatTarget: 250),
    R(code: "330503", name: "南浔", level: "county", parent: "330500", population: 40_000, seatTarget: 150),
    R(code: "330502001", name: "一", level: "township", parent: "330502"),
    R(code: "330502002", name: "二", level: "township", parent: "330502"),
    R(code: "330503001", name: "三", level: "township", parent: "330503"),
  ]

  @Test func countiesAndTheCityRollUp() throws {
    let filed = [
      IndicatorRules.Filed(
        county: "330502", township: "330502001", institutions: 2, seats: 120, inclusiveSeats: 80, anyInclusive: true),
      IndicatorRules.Filed(
        county: "330503", township: "330503001", institutions: 1, seats: 30, inclusiveSeats: 0, anyInclusive: false),
      IndicatorRules.Filed(
        county: "339999", township: "339999001", institutions: 9, seats: 999, inclusiveSeats: 0, anyInclusive: false),
    ]
    let rows = try IndicatorRules.rollUp(root: Self.tree[0], tree: Self.tree, filed: filed)
    #expect(rows.map(\.regionCode) == ["330500", "330502", "330503"])
    let city = rows[0]
    #expect(city.seats == 150 && city.inclusiveSeats == 80 && city.institutions == 3)
    #expect(city.population == 100_000 && city.seatTarget == 500)  // its own target, its counties' population
    #expect(city.townships == 3 && city.townshipsCovered == 2 && city.townshipsInclusiveCovered == 1)
    #expect(city.seatsPerThousand == 1.5 && city.targetProgress == 0.3)
    #expect(rows[1].inclusiveShare == 80.0 / 120.0 && rows[2].inclusiveShare == 0)
  }

  @Test func storedFiguresPastInt64AreARefusal() {
    var tree = Self.tree
    tree[1].population = .max
    tree[2].population = .max
    #expect(throws: Refusal.self) { try IndicatorRules.rollUp(root: tree[0], tree: tree, filed: []) }
    let huge = [
      IndicatorRules.Filed(
        county: "330502", township: "330502001", institutions: 1, seats: .max, inclusiveSeats: 0, anyInclusive: false),
      IndicatorRules.Filed(
        county: "330502", township: "330502002", institutions: 1, seats: 1, inclusiveSeats: 0, anyInclusive: false),
    ]
    #expect(throws: Refusal.self) { try IndicatorRules.rollUp(root: Self.tree[0], tree: Self.tree, filed: huge) }
  }
}

@Suite struct YuanTests {
  @Test(
    arguments: [
      ("1800", 180_000 as Int64?), ("1800.5", 180_050), ("1800.50", 180_050), (" 3 ", 300), ("-3", -300), ("0.07", 7),
      ("12.345", nil), ("", nil), (".5", nil), ("1,800", nil), ("１８００", nil),
      ("92233720368547757", 9_223_372_036_854_775_700),
      ("92233720368547758", 9_223_372_036_854_775_800), ("92233720368547759", nil), ("999999999999999999", nil),
    ] as [(String, Int64?)])
  func parsing(text: String, fen: Int64?) {
    #expect(Yuan.fen(text) == fen, "\(text)")
  }

  @Test func showingNeverTraps() {
    #expect(Yuan.string(180_050) == "1800.50" && Yuan.string(-7) == "-0.07")
    #expect(Yuan.withUnit(.min) == "-92233720368547758.08 yuan")
  }
}

/// ListInstitutions is assembled from stored encodings; the bytes must be exactly what
/// swift-protobuf makes of the same message (field numbers, lengths past one varint byte, the
/// token left out when empty).
@Suite struct EncodedListTests {
  func institution(_ n: Int, padding: Int) -> Institution {
    .with {
      $0.creditCode = "91330502MA2B\(String(format: "%06d", n))"
      $0.displayName = String(repeating: "托", count: padding)
      $0.status = .filed
      $0.version = Int32(n)
    }
  }

  @Test(arguments: [0, 1, 60, 5_000])
  func assembledPageEqualsSwiftProtobufsEncoding(padding: Int) throws {
    let items = [institution(1, padding: padding), institution(2, padding: padding / 2 + 1)]
    for token in ["", "next-page-token"] {
      let message = Tuoyu_Registry_V1_ListInstitutionsResponse.with {
        $0.institutions = items
        $0.nextPageToken = token
      }
      var writer = EncodedMessageWriter()
      for i in items {
        writer.appendLengthDelimited(field: RegistryService.listInstitutionsField, try i.serializedBytes())
      }
      writer.appendString(field: RegistryService.listNextPageTokenField, token)
      let expected: [UInt8] = try message.serializedBytes()
      #expect(writer.bytes == expected)
      #expect(
        try EncodedResponse<Tuoyu_Registry_V1_ListInstitutionsResponse>(encoding: writer.bytes).message() == message)
    }
  }
}
