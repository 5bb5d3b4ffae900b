import ServiceKit
import Testing
import WorkforceAPI
import Foundation
import WorkforceCore

func day(_ s: String) -> LocalDate { LocalDate(s)! }

/// Made-up resident ID numbers completed with their check character.
func residentID(_ digits17: String) -> String { ResidentID.complete(digits17)! }

@Suite struct IdentityRulesTests {
  @Test(
    arguments: [
      (residentID("33050219900101123"), nil),
      (residentID("33050220240229123"), nil),  // a leap day
      (String(residentID("33050219900101123").dropLast()) + "0", "check character"),
      (residentID("33050219900230123"), "date of birth"),  // 30 February
      (residentID("33050230000101123"), "future"),
      ("33050219900101123", "18 characters"),
      ("3305021990010112\0X", "digits"),
      ("", "18 characters"),
      (String(repeating: "9", count: 300), "18 characters"),
    ] as [(String, String?)])
  func idNumbers(id: String, problem: String?) {
    let refusal = Identity.refusal(id, today: day("2026-11-25"))
    if let problem {
      #expect(refusal?.rule == "id-number.valid")
      #expect(refusal?.message.contains(problem) == true, "\(refusal?.message ?? "accepted")")
      // The number itself is never quoted back.
      #expect(id.count < 6 || refusal?.message.contains(id) == false)
    } else {
      #expect(refusal == nil, "\(refusal?.message ?? "")")
    }
  }

  @Test(
    arguments: [
      ("1990-06-15", "2006-06-14", 15), ("1990-06-15", "2006-06-15", 16), ("2000-02-29", "2016-02-28", 15),
      ("2000-02-29", "2016-02-29", 16), ("2000-02-29", "2017-03-01", 17),
    ])
  func ages(born: String, on: String, age: Int) {
    #expect(Identity.age(born: day(born), on: day(on)) == age)
  }
}

@Suite struct HiringRulesTests {
  typealias C = Hiring.Candidate

  static let adult = day("1990-01-01")

  static func candidate(
    _ role: Tuoyu_Workforce_V1_StaffRole, banned: Bool = false, born: LocalDate = adult,
    education: Tuoyu_Workforce_V1_Education = .seniorSecondary, experience: Int = 0, preJob: String? = nil
  ) -> C {
    C(
      role: role, banned: banned, birthDate: born, education: education, experienceYears: experience,
      preJobCompletedOn: preJob.map(day))
  }

  @Test(
    arguments: [
      // (candidate, registry status, start, the rules refused)
      (candidate(.cook), "filed", "2025-03-01", [String]()),
      (candidate(.cook), "filing-submitted", "2025-03-01", []),
      (candidate(.cook, banned: true), "filed", "2025-03-01", ["hire.not-banned"]),
      (candidate(.manager, banned: true), "filed", "2025-03-01", ["hire.not-banned", "hire.manager-qualification"]),
      (candidate(.cook), nil, "2025-03-01", ["hire.institution-known"]),
      (candidate(.cook), "suspended", "2025-03-01", ["hire.institution-filed"]),
      (candidate(.cook), "registered", "2025-03-01", ["hire.institution-filed"]),
      (candidate(.caregiver), "filed", "2025-03-01", ["hire.caregiver-pre-job-training"]),
      (candidate(.caregiver, preJob: "2025-03-02"), "filed", "2025-03-01", ["hire.caregiver-pre-job-training"]),
      (candidate(.caregiver, preJob: "2025-03-01"), "filed", "2025-03-01", []),
      (candidate(.healthWorker), "filed", "2025-03-01", []),
      (candidate(.manager, education: .college, experience: 3), "filed", "2025-03-01", []),
      (candidate(.manager, education: .college, experience: 2), "filed", "2025-03-01", ["hire.manager-qualification"]),
      (
        candidate(.manager, education: .seniorSecondary, experience: 9), "filed", "2025-03-01",
        ["hire.manager-qualification"]
      ),
      (candidate(.manager, education: .postgraduate, experience: 3), "filed", "2025-03-01", []),
      (candidate(.cook, born: day("2009-03-02")), "filed", "2025-03-01", ["hire.working-age"]),
      (candidate(.cook, born: day("2009-03-01")), "filed", "2025-03-01", []),
      (candidate(.cook), "filed", "2025-06-01", ["hire.start-date"]),
    ] as [(C, String?, String, [String])])
  func hiring(c: C, status: String?, start: String, rules: [String]) {
    let got = Hiring.refusals(
      c, institutionStatus: status, creditCode: "91330502MA2B00017X", start: day(start), today: day("2025-03-01"))
    #expect(got.map(\.rule) == rules)
  }
}

@Suite struct StaffingRulesTests {
  @Test(
    arguments: [
      // classes, seats, children per caregiver, caregivers required
      (1, 10, 3, 4), (2, 10, 3, 4), (3, 10, 3, 4), (1, 9, 3, 3), (1, 0, 3, 0), (0, 7, 3, 3),
      (2, 30, 5, 6), (2, 31, 5, 7), (3, 31, 5, 7), (4, 10, 3, 4), (10, 10, 3, 10), (12, 10, 3, 10),
      (1, 20, 7, 3), (100, 2000, 7, 300), (1, 5, 0, 0),
    ])
  func caregiversRequired(classes: Int, seats: Int, per: Int, required: Int) {
    #expect(Staffing.caregiversRequired(classes: classes, seats: seats, perCaregiver: per) == required)
  }

  /// The same, computed the slow way: the children dealt out to the classes one by one.
  @Test func caregiversRequiredMatchesDealingOut() {
    for classes in 0...12 {
      for seats in 0...60 {
        for per in 1...8 {
          var groups = [Int](repeating: 0, count: max(1, min(classes, seats)))
          for child in 0..<seats { groups[child % groups.count] += 1 }
          let want = groups.map { ($0 + per - 1) / per }.reduce(0, +)
          #expect(Staffing.caregiversRequired(classes: classes, seats: seats, perCaregiver: per) == want)
        }
      }
    }
  }

  static let rules = [
    Staffing.RuleValue(key: "ratio.infant.children-per-carer", from: day("2019-10-08"), value: 3),
    Staffing.RuleValue(key: "ratio.toddler.children-per-carer", from: day("2019-10-08"), value: 5),
    Staffing.RuleValue(key: "ratio.toddler.children-per-carer", region: "330500", from: day("2025-01-01"), value: 4),
    Staffing.RuleValue(key: "ratio.toddler.children-per-carer", region: "330502", from: day("2025-06-01"), value: 6),
    Staffing.RuleValue(key: "ratio.mixed.children-per-carer", region: "330503", from: day("2025-01-01"), value: 5),
  ]

  @Test(
    arguments: [
      (Staffing.ClassType.infant, "2025-03-01", "330502", 3 as Int?),
      (.toddler, "2024-12-31", "330502", 5), (.toddler, "2025-01-01", "330502", 4),
      // A county's looser value does not loosen its city's.
      (.toddler, "2025-07-01", "330502", 4), (.toddler, "2025-07-01", "330521", 4),
      (.toddler, "2025-07-01", "330600", 5), (.mixed, "2025-07-01", "330502", nil), (.mixed, "2025-07-01", "330503", 5),
      (.infant, "2019-10-07", "330502", nil),
    ] as [(Staffing.ClassType, String, String, Int?)])
  func ratios(type: Staffing.ClassType, on: String, county: String, ratio: Int?) {
    #expect(Staffing.ratio(type, on: day(on), county: county, rules: Self.rules) == ratio)
  }

  @Test(
    arguments: [
      ("2025-03-01", "2026-02-28"), ("2024-02-29", "2025-02-27"), ("2025-01-01", "2025-12-31"),
      ("2023-03-01", "2024-02-29"),
    ])
  func healthCheckValidity(checked: String, until: String) {
    #expect(Staffing.healthCheckValidUntil(day(checked)) == day(until))
  }

  static func member(
    _ id: Int64, _ role: Tuoyu_Workforce_V1_StaffRole, certificate: Tuoyu_Workforce_V1_CertificateKind? = nil,
    expires: String? = nil, checked: String? = "2025-01-10", preJob: String? = "2024-12-01"
  ) -> Staffing.Member {
    Staffing.Member(
      personID: id, name: "P\(id)", role: role,
      certificates: certificate.map { [.init(kind: $0, issued: day("2024-01-01"), expires: expires.map(day))] } ?? [],
      healthChecks: checked.map {
        [.init(checkedOn: day($0), validUntil: Staffing.healthCheckValidUntil(day($0)), passed: true)]
      } ?? [],
      preJobCompletedOn: preJob.map(day))
  }

  @Test func complianceOfOneInstitution() {
    let classes = [
      Staffing.ClassSeats(.infant, classes: 1, seats: 10), Staffing.ClassSeats(.toddler, classes: 2, seats: 30),
      Staffing.ClassSeats(.mixed, classes: 1, seats: 5),
    ]
    // infant 1×10 at 1:3 → 4; toddler 2×15 at the city's stricter 1:4 → 8; mixed: no ratio in
    // force in 330521.
    var staff = (1...9).map { Self.member(Int64($0), .caregiver, certificate: .nurseryCarer) }
    staff.append(Self.member(10, .caregiver, certificate: .teacher, expires: "2025-03-20"))
    staff.append(Self.member(11, .healthWorker, certificate: .infantCarer))  // not a health worker's certificate
    staff.append(Self.member(12, .cook, checked: nil))
    staff.append(Self.member(13, .caregiver, checked: "2024-03-05", preJob: nil))
    let c = Staffing.compliance(
      creditCode: "X", name: "示例", county: "330521", classes: classes, staff: staff, rules: Self.rules,
      on: day("2025-03-04"))
    #expect(c.caregiversRequired == 12)
    #expect(c.caregivers == 11)
    #expect(!c.ratioMet)
    #expect(c.classes.map(\.caregiversRequired) == [4, 8, 0])
    #expect(c.classes.map(\.childrenPerCaregiver) == [3, 4, 0])
    #expect(c.certifiableStaff == 12)
    #expect(c.certifiedStaff == 10)
    #expect(c.certificationPermille == 833)
    #expect(c.staff == 13)
    #expect(c.validHealthChecks == 12)
    #expect(c.caregiversPreJobTrained == 10)
    // Person 10's teacher qualification expires on the 20th; person 13's check ran out on the 4th.
    #expect(c.renewals.map(\.what) == ["health-check", "certificate:teacher"])
    #expect(c.renewals.map(\.personID) == [13, 10])
    #expect(!c.compliant)
    // No mixed ratio, the ratio, certification, health checks, pre-job training.
    #expect(c.findings.count == 5, "\(c.findings)")
    #expect(c.findings.contains("11 caregivers for the 12 the filed seats need"))
  }
}

@Suite struct BanRulesTests {
  @Test(
    arguments: [
      (BanRules.Status.annulmentPending, "officer-a", "officer-b", nil as String?),
      (.annulmentPending, "officer-a", "officer-a", "ban.maker-checker"),
      (.active, nil, "officer-b", "ban.annulment-pending"),
      (.annulled, "officer-a", "officer-b", "ban.annulment-pending"),
    ] as [(BanRules.Status, String?, String, String?)])
  func approval(status: BanRules.Status, recorder: String?, approver: String, rule: String?) {
    #expect(BanRules.approvalRefusal(status: status, recorder: recorder, approver: approver)?.rule == rule)
  }

  @Test func aPendingAnnulmentStillBars() {
    #expect(BanRules.stands(.active))
    #expect(BanRules.stands(.annulmentPending))
    #expect(!BanRules.stands(.annulled))
    #expect(BanRules.requestRefusal(status: .active) == nil)
    #expect(BanRules.requestRefusal(status: .annulmentPending)?.rule == "ban.annulment-once")
  }
}

@Suite struct ScopeTests {
  @Test(
    arguments: [
      (Scope.all, "91330502MA2B00017X", "330502", true), (.region("330502"), "A", "330502", true),
      (.region("330502"), "A", "330503", false), (.region("330500"), "A", "330503", true),
      (.region("330500"), "A", "330602", false), (.region("330500"), "A", "", false),
      (.institution("A"), "A", "330502", true), (.institution("A"), "B", "330502", false),
    ] as [(Scope, String, String, Bool)])
  func covers(scope: Scope, code: String, county: String, covered: Bool) {
    #expect(scope.covers(creditCode: code, county: county) == covered)
  }

  @Test func tokensDecideTheScope() throws {
    #expect(try Scope.of(Principal(subject: "a", department: "hrss", roles: ["workforce.officer"])) == .all)
    #expect(
      try Scope.of(Principal(subject: "a", department: "hrss", roles: ["workforce.officer"], region: "330502"))
        == .region("330502"))
    #expect(
      try Scope.of(Principal(subject: "a", department: "x", roles: ["workforce.employer"], institution: "C"))
        == .institution("C"))
    #expect(throws: Refusal.self) {
      try Scope.of(Principal(subject: "a", department: "x", roles: ["workforce.employer"]))
    }
  }
}

@Suite struct HexTests {
  @Test func hexMatchesFormat() {
    let bytes: [UInt8] = [0, 1, 0x0F, 0x10, 0x7F, 0x80, 0xAB, 0xFF]
    #expect(WorkforceService.hex(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
    #expect(WorkforceService.hex([]) == "")
  }
}
