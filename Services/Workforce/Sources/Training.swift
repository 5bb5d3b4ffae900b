import API
import Postgres
import RPC
import ServiceKit
import WorkforceAPI

extension WorkforceService {
  public func createCourse(
    request: Tuoyu_Workforce_V1_CreateCourseRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_Course {
    try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "courses/\(request.code)"
    ) { tx in
      guard try await WorkforceStore.insertCourse(tx, request) else {
        throw Refusal(.alreadyExists, rule: "course.unique-code", field: "code", "course \(request.code) exists")
      }
      return .with {
        $0.code = request.code
        $0.title = request.title
        $0.kind = request.kind
        $0.hours = request.hours
      }
    }
  }

  public func listCourses(
    request: Tuoyu_Workforce_V1_ListCoursesRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_ListCoursesResponse {
    let courses = try await pool.withConnection { try await WorkforceStore.courses($0) }
    return .with { $0.courses = courses }
  }

  /// A session of a course run by a county, with its dates and capacity.
  public func createSession(
    request: Tuoyu_Workforce_V1_CreateSessionRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_TrainingSession {
    let scope = try Scope.of(context)
    var problems: [Refusal] = []
    let starts = LocalDate(request.startsOn)
    let ends = LocalDate(request.endsOn)
    if starts == nil { problems.append(.invalid("starts_on", rule: "session.dates", "a valid first day is required")) }
    if ends == nil { problems.append(.invalid("ends_on", rule: "session.dates", "a valid last day is required")) }
    if let starts, let ends, ends < starts {
      problems.append(.invalid("ends_on", rule: "session.dates", "the last day \(ends) is before the first \(starts)"))
    }
    if let starts, let ends, ends.ordinal - starts.ordinal > 366 {
      problems.append(.invalid("ends_on", rule: "session.dates", "a session lasts at most a year"))
    }
    if !scope.covers(region: request.countyCode) {
      problems.append(
        Refusal(
          .permissionDenied, rule: "access.scope", field: "county_code",
          "county \(request.countyCode) is outside your region"))
    }
    try Refusals.check(problems)
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "sessions"
    ) { tx in
      guard try await WorkforceStore.course(tx, request.courseCode) != nil else {
        throw Refusal(.notFound, rule: "course.known", field: "course_code", "no course \(request.courseCode)")
      }
      let id = try await WorkforceStore.insertSession(tx, request, starts: starts!, ends: ends!)
      return try await WorkforceStore.session(tx, id)!
    }
  }

  public func listSessions(
    request: Tuoyu_Workforce_V1_ListSessionsRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_ListSessionsResponse {
    let sessions = try await pool.withConnection {
      try await WorkforceStore.sessions($0, course: request.courseCode, county: request.countyCode, year: request.year)
    }
    return .with { $0.sessions = sessions }
  }

  /// Enrols a person in a session while it has a free seat: concurrent enrolments never take more
  /// seats than the session has. Enrolling again in the same session changes nothing.
  public func enrol(
    request: Tuoyu_Workforce_V1_EnrolRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_Enrolment {
    let scope = try Scope.of(context)
    var audited = request
    audited.person = redacted(request.person)
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: audited, target: "sessions/\(request.sessionID)"
    ) { tx in
      let id = try await person(tx, request.person, scope)
      guard let session = try await WorkforceStore.session(tx, request.sessionID) else {
        throw Refusal(.notFound, rule: "session.known", field: "session_id", "no session \(request.sessionID)")
      }
      if let existing = try await WorkforceStore.enrolment(tx, session: session.sessionID, person: id) {
        return existing
      }
      // An employer enrols its staff in sessions to come; officers also record past ones (the
      // training provider's records, entered after the fact).
      if case .institution = scope, let ends = LocalDate(session.endsOn), ends < today() {
        throw Refusal.precondition("session.open", "the session ended on \(ends)", field: "session_id")
      }
      guard try await WorkforceStore.takeSeat(tx, session: session.sessionID) else {
        throw Refusal.precondition(
          "session.capacity", "the session is full (\(session.capacity) seats)", field: "session_id")
      }
      _ = try await WorkforceStore.insertEnrolment(tx, session: session.sessionID, person: id)
      return try await WorkforceStore.enrolment(tx, session: session.sessionID, person: id)!
    }
  }

  /// Records attendance once the session has ended: hours (at most the course's) and whether the
  /// person completed it; completion counts on the session's last day.
  public func recordAttendance(
    request: Tuoyu_Workforce_V1_RecordAttendanceRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_Enrolment {
    let scope = try Scope.of(context)
    var audited = request
    audited.person = redacted(request.person)
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: audited, target: "sessions/\(request.sessionID)"
    ) { tx in
      let id = try await person(tx, request.person, scope)
      guard let session = try await WorkforceStore.session(tx, request.sessionID),
        scope.covers(region: session.countyCode)
      else {
        throw Refusal(.notFound, rule: "session.known", field: "session_id", "no session \(request.sessionID)")
      }
      guard try await WorkforceStore.enrolment(tx, session: session.sessionID, person: id) != nil else {
        throw Refusal.precondition("attendance.enrolled", "the person is not enrolled in this session", field: "person")
      }
      let ends = LocalDate(session.endsOn)!
      guard ends <= today() else {
        throw Refusal.precondition(
          "attendance.after-session", "the session runs until \(ends); record attendance after it")
      }
      guard request.hoursAttended <= session.hours else {
        throw Refusal.invalid(
          "hours_attended", rule: "attendance.hours",
          "the course has \(session.hours) hours, not \(request.hoursAttended)")
      }
      try await WorkforceStore.recordAttendance(
        tx, session: session.sessionID, person: id, hours: request.hoursAttended, completed: request.completed, on: ends
      )
      if request.completed {
        try Outbox.queue(
          tx, eventType: "training.completed", subject: "people/\(id)",
          event: Tuoyu_Workforce_V1_EmploymentEvent.with { $0.personID = id })
      }
      return try await WorkforceStore.enrolment(tx, session: session.sessionID, person: id)!
    }
  }
}
