import ServiceKit
import WorkforceAPI

/// Staffing against the filed seats (托育机构设置标准（试行）): caregivers per class type at the
/// rule pack's ratios, certification, health checks and pre-job training on a day. Pure values in,
/// the compliance record out.
public enum Staffing {
  public enum ClassType: String, Sendable, CaseIterable {
    case infant, toddler, olderToddler = "older-toddler", mixed, family

    /// The registry's rule key of the class type's ratio (children per caregiver).
    public var ratioKey: String {
      self == .family ? "family.children-per-carer" : "ratio.\(rawValue).children-per-carer"
    }
  }

  public struct ClassSeats: Sendable, Hashable {
    public var type: ClassType
    public var classes: Int
    public var seats: Int

    public init(_ type: ClassType, classes: Int, seats: Int) {
      self.type = type
      self.classes = classes
      self.seats = seats
    }
  }

  /// One rule value as the registry publishes it.
  public struct RuleValue: Sendable, Hashable {
    public var key: String
    /// Empty for national; else a city or county code.
    public var region: String
    public var from: LocalDate
    public var value: Int

    public init(key: String, region: String = "", from: LocalDate, value: Int) {
      self.key = key
      self.region = region
      self.from = from
      self.value = value
    }
  }

  /// Children per caregiver for `type` on `day` in `county`: the strictest (lowest) of the latest
  /// national, city and county values in force — a local value may only tighten. Nil when none.
  public static func ratio(_ type: ClassType, on day: LocalDate, county: String, rules: [RuleValue]) -> Int? {
    let city = county.count == 6 ? String(county.prefix(4)) + "00" : ""
    let levels = [""] + [city, county].filter { !$0.isEmpty }
    let inForce = Set(levels).compactMap { region in
      rules.filter { $0.key == type.ratioKey && $0.region == region && $0.from <= day }.max { $0.from < $1.from }?.value
    }
    return inForce.min()
  }

  /// Caregivers `seats` children in `classes` classes need at `perCaregiver` children each: the
  /// children spread as evenly as they go, each class staffed on its own and rounded up (a class
  /// of 4 infants at 1:3 needs 2). No classes with seats counts as one group.
  public static func caregiversRequired(classes: Int, seats: Int, perCaregiver: Int) -> Int {
    guard seats > 0, perCaregiver > 0 else { return 0 }
    let groups = max(1, min(classes, seats))
    let base = seats / groups
    let larger = seats % groups
    func need(_ n: Int) -> Int { (n + perCaregiver - 1) / perCaregiver }
    return larger * need(base + 1) + (groups - larger) * need(base)
  }

  public typealias Role = Tuoyu_Workforce_V1_StaffRole
  public typealias CertificateKind = Tuoyu_Workforce_V1_CertificateKind

  /// Certificates that qualify each role for the certification rate (持证率): caregivers an 育婴员
  /// or 保育员 certificate or a teacher qualification, health workers a 保健员 certificate.
  public static func qualifying(_ role: Role) -> Set<CertificateKind> {
    switch role {
    case .caregiver: [.infantCarer, .nurseryCarer, .teacher]
    case .healthWorker: [.healthCare]
    default: []
    }
  }

  public struct Certificate: Sendable, Hashable {
    public var kind: CertificateKind
    public var issued: LocalDate
    public var expires: LocalDate?

    public init(kind: CertificateKind, issued: LocalDate, expires: LocalDate?) {
      self.kind = kind
      self.issued = issued
      self.expires = expires
    }

    public func valid(on day: LocalDate) -> Bool { issued <= day && (expires.map { day <= $0 } ?? true) }
  }

  public struct HealthCheck: Sendable, Hashable {
    public var checkedOn: LocalDate
    public var validUntil: LocalDate
    public var passed: Bool

    public init(checkedOn: LocalDate, validUntil: LocalDate, passed: Bool) {
      self.checkedOn = checkedOn
      self.validUntil = validUntil
      self.passed = passed
    }

    public func valid(on day: LocalDate) -> Bool { passed && checkedOn <= day && day <= validUntil }
  }

  /// A health check is valid for 12 months: through the day before the same date a year later.
  public static func healthCheckValidUntil(_ checked: LocalDate) -> LocalDate {
    let sameDay =
      LocalDate(year: checked.year + 1, month: checked.month, day: checked.day)
      ?? LocalDate(year: checked.year + 1, month: checked.month, day: 28)!
    return sameDay.adding(days: -1)
  }

  /// One employed person as compliance sees them.
  public struct Member: Sendable, Hashable {
    public var personID: Int64
    public var name: String
    public var role: Role
    public var certificates: [Certificate]
    public var healthChecks: [HealthCheck]
    public var preJobCompletedOn: LocalDate?

    public init(
      personID: Int64, name: String, role: Role, certificates: [Certificate], healthChecks: [HealthCheck],
      preJobCompletedOn: LocalDate?
    ) {
      self.personID = personID
      self.name = name
      self.role = role
      self.certificates = certificates
      self.healthChecks = healthChecks
      self.preJobCompletedOn = preJobCompletedOn
    }
  }

  /// How far ahead expiries are listed for renewal.
  public static let renewalWindowDays = 30

  public typealias Compliance = Tuoyu_Workforce_V1_InstitutionCompliance

  /// The compliance of one institution on `day`: its seats per class type (`classes`), the staff
  /// employed on the day (one entry per employment: a person employed in two roles counts in
  /// each), and the rule values.
  public static func compliance(
    creditCode: String, name: String, county: String, classes: [ClassSeats], staff: [Member],
    rules: [RuleValue], on day: LocalDate
  ) -> Compliance {
    var c = Compliance()
    c.creditCode = creditCode
    c.institutionName = name
    c.countyCode = county
    c.asOf = day.proto
    var findings: [String] = []
    var required = 0
    for cls in classes where cls.seats > 0 || cls.classes > 0 {
      let r = ratio(cls.type, on: day, county: county, rules: rules)
      let need = r.map { caregiversRequired(classes: cls.classes, seats: cls.seats, perCaregiver: $0) } ?? 0
      if r == nil && cls.seats > 0 {
        findings.append(
          "no staffing ratio is in force for \(cls.type.rawValue) classes on \(day); set one in the registry's rule pack"
        )
      }
      required += need
      c.classes.append(
        .with {
          $0.classType = cls.type.rawValue
          $0.classes = Int32(clamping: cls.classes)
          $0.seats = Int32(clamping: cls.seats)
          $0.childrenPerCaregiver = Int32(clamping: r ?? 0)
          $0.caregiversRequired = Int32(clamping: need)
        })
    }
    let caregivers = staff.filter { $0.role == .caregiver }
    c.caregiversRequired = Int32(clamping: required)
    c.caregivers = Int32(clamping: caregivers.count)
    c.ratioMet = caregivers.count >= required
    if !c.ratioMet {
      findings.append("\(caregivers.count) caregivers for the \(required) the filed seats need")
    }
    let certifiable = staff.filter { !qualifying($0.role).isEmpty }
    let certified = certifiable.filter { m in
      m.certificates.contains { qualifying(m.role).contains($0.kind) && $0.valid(on: day) }
    }
    c.certifiableStaff = Int32(clamping: certifiable.count)
    c.certifiedStaff = Int32(clamping: certified.count)
    c.certificationPermille = permille(certified.count, of: certifiable.count)
    if !certifiable.isEmpty && c.certificationPermille < Targets.certificationPermille {
      findings.append(
        "\(certified.count) of \(certifiable.count) caregivers and health workers hold a valid certificate (\(c.certificationPermille)‰, the plan asks \(Targets.certificationPermille)‰)"
      )
    }
    c.staff = Int32(clamping: staff.count)
    let healthy = staff.filter { m in m.healthChecks.contains { $0.valid(on: day) } }
    c.validHealthChecks = Int32(clamping: healthy.count)
    if healthy.count < staff.count {
      findings.append("\(staff.count - healthy.count) of \(staff.count) staff have no valid annual health check")
    }
    let trained = caregivers.filter { $0.preJobCompletedOn.map { $0 <= day } ?? false }
    c.caregiversPreJobTrained = Int32(clamping: trained.count)
    if trained.count < caregivers.count {
      findings.append("\(caregivers.count - trained.count) caregivers have not completed pre-job training")
    }
    c.renewals = renewals(staff, on: day)
    c.findings = findings
    c.compliant = findings.isEmpty
    return c
  }

  /// Certificates and health checks that expire within the renewal window of `day` and are not
  /// already renewed (the latest of each kind per person counts).
  public static func renewals(_ staff: [Member], on day: LocalDate) -> [Tuoyu_Workforce_V1_Renewal] {
    let last = day.adding(days: renewalWindowDays)
    var out: [Tuoyu_Workforce_V1_Renewal] = []
    var seen = Set<Int64>()
    for m in staff where seen.insert(m.personID).inserted {
      var latest: [CertificateKind: LocalDate?] = [:]
      for cert in m.certificates {
        if let current = latest[cert.kind] {
          // No expiry outlasts any date.
          if let c = current, let e = cert.expires {
            latest[cert.kind] = max(c, e)
          } else {
            latest[cert.kind] = .some(nil)
          }
        } else {
          latest[cert.kind] = .some(cert.expires)
        }
      }
      for (kind, expires) in latest.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
        guard let e = expires, day <= e, e <= last else { continue }
        out.append(renewal(m, "certificate:\(kindName(kind))", e))
      }
      if let until = m.healthChecks.filter(\.passed).map(\.validUntil).max(), day <= until, until <= last {
        out.append(renewal(m, "health-check", until))
      }
    }
    return out.sorted {
      ($0.expires.year, $0.expires.month, $0.expires.day, $0.personID) < (
        $1.expires.year, $1.expires.month, $1.expires.day, $1.personID
      )
    }
  }

  static func renewal(_ m: Member, _ what: String, _ expires: LocalDate) -> Tuoyu_Workforce_V1_Renewal {
    .with {
      $0.personID = m.personID
      $0.personName = m.name
      $0.what = what
      $0.expires = expires.proto
    }
  }

  public static func kindName(_ k: CertificateKind) -> String {
    switch k {
    case .infantCarer: "infant-carer"
    case .nurseryCarer: "nursery-carer"
    case .healthCare: "health-care"
    case .teacher: "teacher"
    case .health: "health"
    default: "unspecified"
    }
  }

  /// `part` of `whole` in per mille, rounded down; 0 of nothing is 0.
  public static func permille(_ part: Int, of whole: Int) -> Int32 {
    whole == 0 ? 0 : Int32(clamping: part * 1000 / whole)
  }
}
