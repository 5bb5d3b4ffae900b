import API
import ArgumentParser
import Foundation
import RPC
import WorkforceAPI

typealias WF = Tuoyu_Workforce_V1_Workforce

struct WorkforceCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "workforce",
    abstract: "Staff, certificates, training, lifetime bans and compliance (tuoyu-workforce).",
    discussion: """
      A PERSON is named by the number the service gave (e.g. 42) or by resident ID number. ID
      numbers are shown masked (3305************1X) unless --reveal-id-numbers is given and the
      token has the workforce.identity role. An employer's token names its institution and
      reaches only its own staff.
      """,
    subcommands: [
      RegisterPerson.self, UpdatePerson.self, Person.self, Hire.self, EndEmployment.self, Staff.self,
      AddCertificate.self, HealthCheck.self, CreateCourse.self, Courses.self, CreateSession.self, Sessions.self,
      Enrol.self, Attendance.self, Ban.self, RequestAnnulment.self, ApproveAnnulment.self, Bans.self,
      CheckEligibility.self, Compliance.self, ComplianceList.self, WorkforceIndicatorsCommand.self,
      ImportStaff.self, Watch<WorkforceFeed>.self,
    ])
}

// MARK: Names and parsing

/// `date(_:_:)` and `document(_:_:)` for commands whose flags have those names.
func parseDate(_ text: String?, _ flag: String) throws -> Tuoyu_Common_V1_Date { try date(text, flag) }
func parseDocument(_ text: String, _ flag: String) throws -> Tuoyu_Common_V1_Document { try document(text, flag) }

let educationNames = Tuoyu_Workforce_V1_Education.plainNames
let staffRoleNames = Tuoyu_Workforce_V1_StaffRole.plainNames
let certificateNames = Tuoyu_Workforce_V1_CertificateKind.plainNames
let courseNames = Tuoyu_Workforce_V1_CourseKind.plainNames

/// A person by the service's number or by resident ID number.
func personRef(_ text: String) throws -> Tuoyu_Workforce_V1_PersonRef {
  let t = text.trimmingCharacters(in: .whitespaces)
  if t.count <= 15, let id = Int64(t), id > 0 { return .with { $0.personID = id } }
  guard t.utf8.count == 18 else {
    throw CLIError("a person is a number the service gave (e.g. 42) or an 18-character resident ID number")
  }
  return .with { $0.idNumber = t.uppercased() }
}

/// What the CLI prints of an ID number: masked, unless the operator asked to see it (and the
/// service sent it, which it does only to the identity role).
func shownID(_ id: String, reveal: Bool) -> String {
  if reveal || id.contains("*") || id.count != 18 { return id }
  return String(id.prefix(4)) + String(repeating: "*", count: 12) + String(id.suffix(2))
}

struct RevealOption: ParsableArguments {
  @Flag(help: "Show ID numbers in full (the service sends them only to the workforce.identity role).")
  var revealIdNumbers = false
}

func employmentTable(_ list: [Tuoyu_Workforce_V1_Employment], reveal: Bool) -> Table {
  var t = Table(["EMPLOYMENT", "PERSON", "NAME", "ID NUMBER", "INSTITUTION", "ROLE", "START", "END", "REASON"])
  for e in list {
    t.add([
      String(e.employmentID), String(e.personID), e.personName, shownID(e.idNumber, reveal: reveal),
      e.creditCode + (e.institutionName.isEmpty ? "" : " \(e.institutionName)"), name(staffRoleNames, e.role),
      show(e.startDate), show(e.endDate), e.endReason,
    ])
  }
  return t
}

func masked(_ e: Tuoyu_Workforce_V1_Employment, reveal: Bool) -> Tuoyu_Workforce_V1_Employment {
  var e = e
  e.idNumber = shownID(e.idNumber, reveal: reveal)
  return e
}

func masked(_ b: Tuoyu_Workforce_V1_Ban, reveal: Bool) -> Tuoyu_Workforce_V1_Ban {
  var b = b
  b.idNumber = shownID(b.idNumber, reveal: reveal)
  b.endedEmployments = b.endedEmployments.map { masked($0, reveal: reveal) }
  return b
}

// MARK: People

struct RegisterPerson: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "register-person", abstract: "Register a person by resident ID number.")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var reveal: RevealOption
  @Option(help: "Name.") var name: String
  @Option(help: "Resident ID number (18 characters).") var idNumber: String
  @Option(help: "Phone.") var phone: String?
  @Option(
    help: "junior-secondary, senior-secondary, college, bachelor or postgraduate.",
    completion: .list(educationNames.map(\.0)))
  var education: String?
  @Option(help: "Years of related experience.") var experience: Int32?
  @Option(help: "Idempotency key (default: a new UUID).") var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_RegisterPersonRequest.with {
          $0.requestID = requestID(requestId)
          $0.displayName = name
          $0.idNumber = idNumber.uppercased()
          $0.phone = phone ?? ""
          if let education { $0.education = try lookup(educationNames, education, "--education") }
          $0.relatedExperienceYears = experience ?? 0
        })
    }
    let p = await withClient(options, "workforce") {
      try await WF.Client($0).registerPerson(req, options: options.callOptions)
    }
    printPerson(options, p, reveal: reveal.revealIdNumbers)
  }
}

struct UpdatePerson: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "update-person", abstract: "Change a person's name, phone, education or experience.")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var reveal: RevealOption
  @Argument(help: "PERSON: the service's number or the resident ID number.") var person: String
  @Option var name: String?
  @Option var phone: String?
  @Option(completion: .list(educationNames.map(\.0))) var education: String?
  @Option var experience: Int32?
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      var r = Tuoyu_Workforce_V1_UpdatePersonRequest()
      r.requestID = requestID(requestId)
      r.person = try personRef(person)
      if let name { r.displayName = name; r.updateMask.append("display_name") }
      if let phone { r.phone = phone; r.updateMask.append("phone") }
      if let education {
        r.education = try lookup(educationNames, education, "--education")
        r.updateMask.append("education")
      }
      if let experience { r.relatedExperienceYears = experience; r.updateMask.append("related_experience_years") }
      guard !r.updateMask.isEmpty else {
        throw CLIError("nothing to change: give --name, --phone, --education or --experience")
      }
      return try checked(r)
    }
    let p = await withClient(options, "workforce") {
      try await WF.Client($0).updatePerson(req, options: options.callOptions)
    }
    printPerson(options, p, reveal: reveal.revealIdNumbers)
  }
}

struct Person: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "person", abstract: "Show a person: employments, certificates, health checks, training, ban.")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var reveal: RevealOption
  @Argument(help: "PERSON: the service's number or the resident ID number.") var person: String

  func run() async throws {
    let req = parsed { try checked(Tuoyu_Workforce_V1_GetPersonRequest.with { $0.person = try personRef(person) }) }
    let p = await withClient(options, "workforce") {
      try await WF.Client($0).getPerson(req, options: options.callOptions)
    }
    printPerson(options, p, reveal: reveal.revealIdNumbers, detail: true)
  }
}

func printPerson(_ o: GlobalOptions, _ p: Tuoyu_Workforce_V1_Person, reveal: Bool, detail: Bool = false) {
  var shown = p
  shown.idNumber = shownID(p.idNumber, reveal: reveal)
  shown.employments = p.employments.map { masked($0, reveal: reveal) }
  var t = Table(["PERSON", "NAME", "ID NUMBER", "BORN", "PHONE", "EDUCATION", "EXPERIENCE", "BANNED"])
  t.add([
    String(p.personID), p.displayName, shown.idNumber, show(p.birthDate), p.phone, name(educationNames, p.education),
    String(p.relatedExperienceYears), p.banned ? "BANNED (终身禁入)" : "no",
  ])
  printOutput(o, t, json: [shown])
  guard detail, o.output == .table else { return }
  if !p.employments.isEmpty {
    print("\nemployments:")
    print(employmentTable(shown.employments, reveal: reveal).render(.table) { "" })
  }
  if !p.certificates.isEmpty {
    print("\ncertificates:")
    for c in p.certificates { print("  \(name(certificateNames, c.kind))  \(showDocument(c.document))") }
  }
  if !p.healthChecks.isEmpty {
    print("\nhealth checks:")
    for h in p.healthChecks {
      print(
        "  \(show(h.checkedOn))  \(h.passed ? "passed" : "FAILED")  valid until \(show(h.validUntil))  \(DisplayText.escaped(h.examiner))"
      )
    }
  }
  if !p.enrolments.isEmpty {
    print("\ntraining:")
    for e in p.enrolments {
      print(
        "  session \(e.sessionID)  \(e.courseCode) (\(name(courseNames, e.kind)))  \(name(enrolmentNames, e.status))  \(e.hoursAttended) h"
          + (e.completedOn.year == 0 ? "" : "  completed \(show(e.completedOn))"))
    }
  }
}

let enrolmentNames = Tuoyu_Workforce_V1_EnrolmentStatus.plainNames

// MARK: Employment

struct Hire: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Hire a person at an institution (refused for a banned person, an untrained caregiver, an unqualified manager).")
  @OptionGroup var options: GlobalOptions
  @Argument(help: "PERSON: the service's number or the resident ID number.") var person: String
  @Option(help: "The institution's credit code.") var at: String
  @Option(help: "caregiver, health-worker, cook, security or manager.", completion: .list(staffRoleNames.map(\.0)))
  var role: String
  @Option(help: "Start date YYYY-MM-DD (default today).") var start: String?
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_HireStaffRequest.with {
          $0.requestID = requestID(requestId)
          $0.person = try personRef(person)
          $0.creditCode = at
          $0.role = try lookup(staffRoleNames, role, "--role")
          $0.startDate = try date(start, "--start")
        })
    }
    let e = await withClient(options, "workforce") {
      try await WF.Client($0).hireStaff(req, options: options.callOptions)
    }
    printOutput(options, employmentTable([e], reveal: false), json: [masked(e, reveal: false)])
  }
}

struct EndEmployment: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "end-employment", abstract: "End an employment.")
  @OptionGroup var options: GlobalOptions
  @Argument(help: "The employment's number.") var employment: Int64
  @Option(help: "The day the person no longer works there, YYYY-MM-DD (default today).") var date: String?
  @Option var reason: String?
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_EndEmploymentRequest.with {
          $0.requestID = requestID(requestId)
          $0.employmentID = employment
          $0.endDate = try parseDate(date, "--date")
          $0.reason = reason ?? ""
        })
    }
    let e = await withClient(options, "workforce") {
      try await WF.Client($0).endEmployment(req, options: options.callOptions)
    }
    printOutput(options, employmentTable([e], reveal: false), json: [masked(e, reveal: false)])
  }
}

struct Staff: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List staff: of an institution (--at), a county or the city (--region), or all within reach.")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var reveal: RevealOption
  @Option(help: "The institution's credit code.") var at: String?
  @Option(help: "A county or city code.") var region: String?
  @Flag(help: "Include ended employments.") var includeEnded = false

  func run() async throws {
    let list = await withClient(options, "workforce") { c in
      try await allPages { token in
        let page = try await WF.Client(c).listStaff(
          checked(
            .with {
              $0.creditCode = at ?? ""
              $0.regionCode = region ?? ""
              $0.includeEnded = includeEnded
              $0.pageSize = 500
              $0.pageToken = token
            }), options: options.callOptions)
        return (page.employments, page.nextPageToken)
      }
    }
    let r = reveal.revealIdNumbers
    printOutput(options, employmentTable(list, reveal: r), json: list.map { masked($0, reveal: r) }, asList: true)
  }
}

// MARK: Certificates and health checks

struct AddCertificate: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "add-certificate", abstract: "Record a certificate (育婴员, 保育员, 保健员, teacher, health).")
  @OptionGroup var options: GlobalOptions
  @Argument(help: "PERSON: the service's number or the resident ID number.") var person: String
  @Option(
    help: "infant-carer, nursery-carer, health-care, teacher or health.", completion: .list(certificateNames.map(\.0)))
  var kind: String
  @Option(help: "The certificate: \(documentForm).") var document: String
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_AddCertificateRequest.with {
          $0.requestID = requestID(requestId)
          $0.person = try personRef(person)
          $0.kind = try lookup(certificateNames, kind, "--kind")
          $0.document = try parseDocument(document, "--document")
        })
    }
    let c = await withClient(options, "workforce") {
      try await WF.Client($0).addCertificate(req, options: options.callOptions)
    }
    var t = Table(["CERTIFICATE", "PERSON", "KIND", "DOCUMENT"])
    t.add([String(c.certificateID), String(c.personID), name(certificateNames, c.kind), showDocument(c.document)])
    printOutput(options, t, json: [c])
  }
}

struct HealthCheck: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "health-check", abstract: "Record an annual health check (valid 12 months).")
  @OptionGroup var options: GlobalOptions
  @Argument(help: "PERSON: the service's number or the resident ID number.") var person: String
  @Option(help: "The day of the check, YYYY-MM-DD.") var date: String
  @Flag(inversion: .prefixedNo, help: "Whether the person passed.") var passed = true
  @Option(help: "Who examined, e.g. 湖州市妇幼保健院.") var examiner: String
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_RecordHealthCheckRequest.with {
          $0.requestID = requestID(requestId)
          $0.person = try personRef(person)
          $0.checkedOn = try parseDate(date, "--date")
          $0.passed = passed
          $0.examiner = examiner
        })
    }
    let h = await withClient(options, "workforce") {
      try await WF.Client($0).recordHealthCheck(req, options: options.callOptions)
    }
    var t = Table(["CHECK", "PERSON", "DATE", "RESULT", "VALID UNTIL", "EXAMINER"])
    t.add([
      String(h.healthCheckID), String(h.personID), show(h.checkedOn), h.passed ? "passed" : "FAILED",
      show(h.validUntil), h.examiner,
    ])
    printOutput(options, t, json: [h])
  }
}

// MARK: Training

struct CreateCourse: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "create-course", abstract: "Create a training course.")
  @OptionGroup var options: GlobalOptions
  @Option(help: "A code, e.g. PREJOB-2025.") var code: String
  @Option var title: String
  @Option(
    help: "pre-job, periodic, hygiene-health-care, law, ethics or mental-health.",
    completion: .list(courseNames.map(\.0)))
  var kind: String
  @Option(help: "Hours.") var hours: Int32
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_CreateCourseRequest.with {
          $0.requestID = requestID(requestId)
          $0.code = code
          $0.title = title
          $0.kind = try lookup(courseNames, kind, "--kind")
          $0.hours = hours
        })
    }
    let c = await withClient(options, "workforce") {
      try await WF.Client($0).createCourse(req, options: options.callOptions)
    }
    printOutput(options, courseTable([c]), json: [c])
  }
}

func courseTable(_ list: [Tuoyu_Workforce_V1_Course]) -> Table {
  var t = Table(["CODE", "TITLE", "KIND", "HOURS"])
  for c in list { t.add([c.code, c.title, name(courseNames, c.kind), String(c.hours)]) }
  return t
}

struct Courses: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "List training courses.")
  @OptionGroup var options: GlobalOptions

  func run() async throws {
    let r = await withClient(options, "workforce") {
      try await WF.Client($0).listCourses(.init(), options: options.callOptions)
    }
    printOutput(options, courseTable(r.courses), json: r.courses, asList: true)
  }
}

func sessionTable(_ list: [Tuoyu_Workforce_V1_TrainingSession]) -> Table {
  var t = Table(["SESSION", "COURSE", "KIND", "COUNTY", "VENUE", "FROM", "TO", "ENROLLED", "CAPACITY", "HOURS"])
  for s in list {
    t.add([
      String(s.sessionID), s.courseCode, name(courseNames, s.kind), s.countyCode, s.venue, show(s.startsOn),
      show(s.endsOn), String(s.enrolled), String(s.capacity), String(s.hours),
    ])
  }
  return t
}

struct CreateSession: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "create-session", abstract: "Schedule a session of a course in a county.")
  @OptionGroup var options: GlobalOptions
  @Option var course: String
  @Option(help: "The county that runs it (6 digits).") var county: String
  @Option var venue: String?
  @Option(help: "First day YYYY-MM-DD.") var starts: String
  @Option(help: "Last day YYYY-MM-DD.") var ends: String
  @Option(help: "Seats.") var capacity: Int32
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_CreateSessionRequest.with {
          $0.requestID = requestID(requestId)
          $0.courseCode = course
          $0.countyCode = county
          $0.venue = venue ?? ""
          $0.startsOn = try date(starts, "--starts")
          $0.endsOn = try date(ends, "--ends")
          $0.capacity = capacity
        })
    }
    let s = await withClient(options, "workforce") {
      try await WF.Client($0).createSession(req, options: options.callOptions)
    }
    printOutput(options, sessionTable([s]), json: [s])
  }
}

struct Sessions: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "List training sessions.")
  @OptionGroup var options: GlobalOptions
  @Option var course: String?
  @Option var county: String?
  @Option var year: Int32?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_ListSessionsRequest.with {
          $0.courseCode = course ?? ""
          $0.countyCode = county ?? ""
          $0.year = year ?? 0
        })
    }
    let r = await withClient(options, "workforce") {
      try await WF.Client($0).listSessions(req, options: options.callOptions)
    }
    printOutput(options, sessionTable(r.sessions), json: r.sessions, asList: true)
  }
}

func enrolmentTable(_ e: Tuoyu_Workforce_V1_Enrolment) -> Table {
  var t = Table(["SESSION", "PERSON", "COURSE", "STATUS", "HOURS", "COMPLETED"])
  t.add([
    String(e.sessionID), String(e.personID), e.courseCode, name(enrolmentNames, e.status), String(e.hoursAttended),
    show(e.completedOn),
  ])
  return t
}

struct Enrol: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Enrol a person in a training session (while seats are free).")
  @OptionGroup var options: GlobalOptions
  @Argument(help: "The session's number.") var session: Int64
  @Argument(help: "PERSON: the service's number or the resident ID number.") var person: String
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_EnrolRequest.with {
          $0.requestID = requestID(requestId)
          $0.sessionID = session
          $0.person = try personRef(person)
        })
    }
    let e = await withClient(options, "workforce") { try await WF.Client($0).enrol(req, options: options.callOptions) }
    printOutput(options, enrolmentTable(e), json: [e])
  }
}

struct Attendance: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Record a person's attendance of an ended session, and whether they completed it.")
  @OptionGroup var options: GlobalOptions
  @Argument(help: "The session's number.") var session: Int64
  @Argument(help: "PERSON: the service's number or the resident ID number.") var person: String
  @Option(help: "Hours attended.") var hours: Int32
  @Flag(inversion: .prefixedNo, help: "Completed (passed) the course, or not.") var completed = true
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_RecordAttendanceRequest.with {
          $0.requestID = requestID(requestId)
          $0.sessionID = session
          $0.person = try personRef(person)
          $0.hoursAttended = hours
          $0.completed = completed
        })
    }
    let e = await withClient(options, "workforce") {
      try await WF.Client($0).recordAttendance(req, options: options.callOptions)
    }
    printOutput(options, enrolmentTable(e), json: [e])
  }
}

// MARK: Bans

struct DecisionOptions: ParsableArguments {
  @Option(name: .customLong("case"), help: "Case or document number (案号/文号).") var caseNumber: String
  @Option(help: "The deciding authority.") var authority: String
  @Option(help: "The day of the decision, YYYY-MM-DD.") var decided: String
  @Option(help: "Why.") var reason: String

  func decision() throws -> Tuoyu_Workforce_V1_Decision {
    try .with {
      $0.caseNumber = caseNumber
      $0.authority = authority
      $0.decidedOn = try date(decided, "--decided")
      $0.reason = reason
    }
  }
}

func banTable(_ bans: [Tuoyu_Workforce_V1_Ban]) -> Table {
  var t = Table([
    "BAN", "PERSON", "NAME", "ID NUMBER", "CASE", "AUTHORITY", "DECIDED", "STATUS", "RESPONSIBLE FOR", "ENDED AT",
  ])
  for b in bans {
    t.add([
      String(b.banID), String(b.personID), b.personName, b.idNumber, b.decision.caseNumber, b.decision.authority,
      show(b.decision.decidedOn), name(Tuoyu_Workforce_V1_BanStatus.plainNames, b.status),
      b.responsibleForBanID == 0 ? "" : "ban \(b.responsibleForBanID)",
      b.endedEmployments.map(\.creditCode).joined(separator: " "),
    ])
  }
  return t
}

struct Ban: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Ban a person for life (终身禁入), and the directly responsible manager with them; ends their employment.")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var decision: DecisionOptions
  @Argument(help: "PERSON: the service's number or the resident ID number.") var person: String
  @Option(help: "The manager the decision names as directly responsible (PERSON).") var responsibleManager: String?
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_BanPersonRequest.with {
          $0.requestID = requestID(requestId)
          $0.person = try personRef(person)
          $0.decision = try decision.decision()
          if let responsibleManager { $0.responsibleManager = try personRef(responsibleManager) }
        })
    }
    let r = await withClient(options, "workforce") {
      try await WF.Client($0).banPerson(req, options: options.callOptions)
    }
    let bans = [r.ban] + (r.managerBan.banID == 0 ? [] : [r.managerBan])
    let shown = bans.map { masked($0, reveal: false) }
    printOutput(options, banTable(shown), json: shown, asList: true)
  }
}

struct RequestAnnulment: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "request-annulment", abstract: "Record the decision annulling a ban (a second officer approves it).")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var decision: DecisionOptions
  @Argument(help: "The ban's number.") var ban: Int64
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_RequestAnnulmentRequest.with {
          $0.requestID = requestID(requestId)
          $0.banID = ban
          $0.decision = try decision.decision()
        })
    }
    let b = await withClient(options, "workforce") {
      try await WF.Client($0).requestAnnulment(req, options: options.callOptions)
    }
    let shown = masked(b, reveal: false)
    printOutput(options, banTable([shown]), json: [shown])
  }
}

struct ApproveAnnulment: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "approve-annulment", abstract: "Approve an annulment another officer recorded.")
  @OptionGroup var options: GlobalOptions
  @Argument(help: "The ban's number.") var ban: Int64
  @Option var requestId: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_ApproveAnnulmentRequest.with {
          $0.requestID = requestID(requestId)
          $0.banID = ban
        })
    }
    let b = await withClient(options, "workforce") {
      try await WF.Client($0).approveAnnulment(req, options: options.callOptions)
    }
    let shown = masked(b, reveal: false)
    printOutput(options, banTable([shown]), json: [shown])
  }
}

struct Bans: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "List lifetime bans.")
  @OptionGroup var options: GlobalOptions
  @OptionGroup var reveal: RevealOption
  @Flag(help: "Include annulled bans.") var includeAnnulled = false

  func run() async throws {
    let list = await withClient(options, "workforce") { c in
      try await allPages { token in
        let page = try await WF.Client(c).listBans(
          checked(
            .with {
              $0.includeAnnulled = includeAnnulled
              $0.pageSize = 500
              $0.pageToken = token
            }), options: options.callOptions)
        return (page.bans, page.nextPageToken)
      }
    }
    let shown = list.map { masked($0, reveal: reveal.revealIdNumbers) }
    printOutput(options, banTable(shown), json: shown, asList: true)
  }
}

struct CheckEligibility: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check",
    abstract: "May this person work with children? Prints eligible or not eligible, nothing else (audited).")
  @OptionGroup var options: GlobalOptions
  @Argument(help: "The resident ID number.") var idNumber: String

  func run() async throws {
    let req = parsed {
      try checked(Tuoyu_Workforce_V1_CheckEligibilityRequest.with { $0.idNumber = idNumber.uppercased() })
    }
    let r = await withClient(options, "workforce") {
      try await WF.Client($0).checkEligibility(req, options: options.callOptions)
    }
    var t = Table(["ELIGIBLE"])
    t.add([r.eligible ? "eligible" : "not eligible"])
    printOutput(options, t, json: [r])
  }
}

// MARK: Compliance and indicators

func complianceTable(_ list: [Tuoyu_Workforce_V1_InstitutionCompliance]) -> Table {
  var t = Table([
    "CREDIT CODE", "NAME", "COUNTY", "CAREGIVERS", "REQUIRED", "RATIO", "CERTIFIED", "RATE", "HEALTH CHECKS",
    "PRE-JOB", "RENEWALS", "COMPLIANT",
  ])
  for c in list {
    t.add([
      c.creditCode, c.institutionName, c.countyCode, String(c.caregivers), String(c.caregiversRequired),
      c.ratioMet ? "met" : "SHORT", "\(c.certifiedStaff)/\(c.certifiableStaff)",
      c.certifiableStaff == 0 ? "-" : permille(c.certificationPermille),
      "\(c.validHealthChecks)/\(c.staff)", "\(c.caregiversPreJobTrained)/\(c.caregivers)", String(c.renewals.count),
      c.compliant ? "yes" : "NO",
    ])
  }
  return t
}

func permille(_ p: Int32) -> String { String(format: "%.1f%%", Double(p) / 10) }

struct Compliance: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "An institution's staffing on a day: ratios per class, certification, health checks, training, renewals.")
  @OptionGroup var options: GlobalOptions
  @Argument(help: "The institution's credit code.") var creditCode: String
  @Option(help: "The day, YYYY-MM-DD (default today).") var asOf: String?

  func run() async throws {
    let req = parsed {
      try checked(
        Tuoyu_Workforce_V1_GetComplianceRequest.with {
          $0.creditCode = creditCode
          $0.asOf = try date(asOf, "--as-of")
        })
    }
    let c = await withClient(options, "workforce") {
      try await WF.Client($0).getCompliance(req, options: options.callOptions)
    }
    printOutput(options, complianceTable([c]), json: [c])
    guard options.output == .table else { return }
    print("\nclasses:")
    var t = Table(["CLASS", "CLASSES", "SEATS", "CHILDREN PER CAREGIVER", "CAREGIVERS NEEDED"])
    for k in c.classes {
      t.add([
        k.classType, String(k.classes), String(k.seats),
        k.childrenPerCaregiver == 0 ? "-" : "1:\(k.childrenPerCaregiver)",
        String(k.caregiversRequired),
      ])
    }
    print(t.render(.table) { "" })
    if !c.renewals.isEmpty {
      print("\nto renew within 30 days:")
      for r in c.renewals {
        print("  \(show(r.expires))  \(r.personID) \(DisplayText.escaped(r.personName))  \(r.what)")
      }
    }
    for f in c.findings { print("finding: \(DisplayText.escaped(f))") }
  }
}

struct ComplianceList: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compliance-list", abstract: "Staffing compliance of every filed institution of a county or the city.")
  @OptionGroup var options: GlobalOptions
  @Option(help: "A county or the city (6 digits).") var region: String
  @Option(help: "The day, YYYY-MM-DD (default today).") var asOf: String?

  func run() async throws {
    let day = parsed { try date(asOf, "--as-of") }
    let list = await withClient(options, "workforce") { c in
      try await allPages { token in
        let page = try await WF.Client(c).listCompliance(
          checked(
            .with {
              $0.regionCode = region
              $0.asOf = day
              $0.pageSize = 1000
              $0.pageToken = token
            }), options: options.callOptions)
        return (page.institutions, page.nextPageToken)
      }
    }
    printOutput(options, complianceTable(list), json: list, asList: true)
  }
}

struct WorkforceIndicatorsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "indicators",
    abstract: "Per county and for the city: certification rate vs 85 %, newly certified vs 3,000, trained vs 10,000.")
  @OptionGroup var options: GlobalOptions
  @Option(help: "The year (default this year).") var year: Int32?

  func run() async throws {
    let y = year ?? Int32(Calendar(identifier: .gregorian).component(.year, from: Date()))
    let req = parsed { try checked(Tuoyu_Workforce_V1_GetIndicatorsRequest.with { $0.year = y }) }
    let r = await withClient(options, "workforce") {
      try await WF.Client($0).getIndicators(req, options: options.callOptions)
    }
    var t = Table([
      "REGION", "YEAR", "CERTIFIED", "STAFF", "RATE", "TARGET", "NEW CERTIFIED", "NEW TARGET", "TRAINED",
      "TRAINED TOTAL",
      "TRAINED TARGET", "HOURS",
    ])
    for i in r.regions {
      t.add([
        i.regionCode, String(i.year), String(i.certifiedStaff), String(i.certifiableStaff),
        permille(i.certificationPermille), permille(i.certificationTargetPermille), String(i.newlyCertified),
        i.newlyCertifiedTarget == 0 ? "" : String(i.newlyCertifiedTarget), String(i.trainedInYear),
        String(i.trainedCumulative), i.trainedTarget == 0 ? "" : String(i.trainedTarget),
        String(i.trainingHoursInYear),
      ])
    }
    printOutput(options, t, json: r.regions, asList: true)
  }
}
