import ServiceKit
import WorkforceAPI

/// Who may be hired for what (托育机构从业人员): the rules a hire is checked against, as data in,
/// refusals out. No database, no RPC.
public enum Hiring {
  public typealias Role = Tuoyu_Workforce_V1_StaffRole
  public typealias Education = Tuoyu_Workforce_V1_Education

  /// The least a manager (负责人) needs: a college diploma (大专) and 3 years of related experience.
  public static let managerEducation = Education.college
  public static let managerExperienceYears = 3
  /// The youngest age at which a person may be employed (劳动法: 16).
  public static let minimumAge = 16
  /// How far ahead a start date may be recorded.
  public static let maxDaysAhead = 90

  /// What the hire is about.
  public struct Candidate: Sendable, Hashable {
    public var role: Role
    public var banned: Bool
    public var birthDate: LocalDate
    public var education: Education
    public var experienceYears: Int
    /// The day the person completed pre-job training (岗前培训), if they have.
    public var preJobCompletedOn: LocalDate?

    public init(
      role: Role, banned: Bool, birthDate: LocalDate, education: Education, experienceYears: Int,
      preJobCompletedOn: LocalDate?
    ) {
      self.role = role
      self.banned = banned
      self.birthDate = birthDate
      self.education = education
      self.experienceYears = experienceYears
      self.preJobCompletedOn = preJobCompletedOn
    }
  }

  /// The registry statuses at which an institution may employ staff: filed, or with its filing
  /// submitted (staff are part of the filing's materials).
  public static let employingStatuses: Set<String> = ["filed", "filing-submitted"]

  /// Every refusal of hiring `c` at an institution whose registry status is `status` (nil: the
  /// registry has not told us of it) from `start`, recorded on `today`.
  public static func refusals(
    _ c: Candidate, institutionStatus status: String?, creditCode: String, start: LocalDate, today: LocalDate
  ) -> [Refusal] {
    var out: [Refusal] = []
    if c.banned {
      out.append(
        .precondition(
          "hire.not-banned", "the person is under a lifetime ban (终身禁入) and may not work at any institution",
          field: "person"))
    }
    switch status {
    case nil:
      out.append(
        Refusal(
          .notFound, rule: "hire.institution-known", field: "credit_code",
          "the registry has no institution \(creditCode)"))
    case let s? where !employingStatuses.contains(s):
      out.append(
        .precondition(
          "hire.institution-filed",
          "institution \(creditCode) is \(s) in the registry; staff are hired at a filed institution or one whose filing is submitted",
          field: "credit_code"))
    default: break
    }
    if start > today.adding(days: maxDaysAhead) {
      out.append(
        .invalid("start_date", rule: "hire.start-date", "\(start) is more than \(maxDaysAhead) days ahead"))
    }
    if Identity.age(born: c.birthDate, on: start) < minimumAge {
      out.append(
        .precondition(
          "hire.working-age", "the person is under \(minimumAge) on \(start)", field: "start_date"))
    }
    switch c.role {
    case .caregiver:
      if c.preJobCompletedOn.map({ $0 > start }) ?? true {
        out.append(
          .precondition(
            "hire.caregiver-pre-job-training",
            "a caregiver (保育人员) completes pre-job training (岗前培训) before starting; "
              + (c.preJobCompletedOn.map { "this person completed it on \($0), after \(start)" }
                ?? "this person has not completed it"),
            field: "role"))
      }
    case .manager:
      if c.education.rawValue < managerEducation.rawValue || c.experienceYears < managerExperienceYears {
        out.append(
          .precondition(
            "hire.manager-qualification",
            "a manager (负责人) needs a college diploma (大专) or above and \(managerExperienceYears) years of related experience; this person has \(educationName(c.education)) and \(c.experienceYears) years",
            field: "role"))
      }
    default: break
    }
    return out
  }

  public static func educationName(_ e: Education) -> String {
    switch e {
    case .juniorSecondary: "junior secondary (初中)"
    case .seniorSecondary: "senior secondary (高中/中专)"
    case .college: "a college diploma (大专)"
    case .bachelor: "a bachelor's degree (本科)"
    case .postgraduate: "a postgraduate degree (研究生)"
    default: "no recorded education"
    }
  }
}
