import API
import Postgres
import ServiceKit
import WorkforceAPI

/// Certificates, health checks, courses, sessions and enrolments.
extension WorkforceStore {
  static func certificate(from row: PostgresRow) throws -> Tuoyu_Workforce_V1_Certificate {
    let (id, person, kind, number, issuer, issued, expires) = try row.decode(
      (Int64, Int64, Int32, String, String, LocalDate, LocalDate?).self)
    return .with {
      $0.certificateID = id
      $0.personID = person
      $0.kind = .init(rawValue: Int(kind)) ?? .unspecified
      $0.document.number = number
      $0.document.issuer = issuer
      $0.document.issued = issued.proto
      if let expires { $0.document.expires = expires.proto }
    }
  }

  static func certificates(_ db: PostgresSession, person: Int64) async throws -> [Tuoyu_Workforce_V1_Certificate] {
    try await db.query(
      """
      SELECT certificate_id, person_id, kind, number, issuer, issued, expires FROM certificate
      WHERE person_id = \(person) ORDER BY issued DESC, certificate_id DESC
      """
    ).map(certificate(from:))
  }

  /// Inserts the certificate; nil when the person already has it (same kind and number).
  static func insertCertificate(
    _ tx: PostgresSession, person: Int64, kind: Int32, number: String, issuer: String, issued: LocalDate,
    expires: LocalDate?
  ) async throws -> Tuoyu_Workforce_V1_Certificate? {
    try await tx.query(
      """
      INSERT INTO certificate (person_id, kind, number, issuer, issued, expires)
      VALUES (\(person), \(kind), \(number), \(issuer), \(issued), \(expires))
      ON CONFLICT (person_id, kind, number) DO NOTHING
      RETURNING certificate_id, person_id, kind, number, issuer, issued, expires
      """
    ).first.map(certificate(from:))
  }

  static func certificate(
    _ tx: PostgresSession, person: Int64, kind: Int32, number: String
  ) async throws
    -> Tuoyu_Workforce_V1_Certificate?
  {
    try await tx.query(
      """
      SELECT certificate_id, person_id, kind, number, issuer, issued, expires FROM certificate
      WHERE person_id = \(person) AND kind = \(kind) AND number = \(number)
      """
    ).first.map(certificate(from:))
  }

  static func healthCheck(from row: PostgresRow) throws -> Tuoyu_Workforce_V1_HealthCheck {
    let (id, person, on, until, passed, examiner) = try row.decode(
      (Int64, Int64, LocalDate, LocalDate, Bool, String).self)
    return .with {
      $0.healthCheckID = id
      $0.personID = person
      $0.checkedOn = on.proto
      $0.validUntil = until.proto
      $0.passed = passed
      $0.examiner = examiner
    }
  }

  static func healthChecks(_ db: PostgresSession, person: Int64) async throws -> [Tuoyu_Workforce_V1_HealthCheck] {
    try await db.query(
      """
      SELECT health_check_id, person_id, checked_on, valid_until, passed, examiner FROM health_check
      WHERE person_id = \(person) ORDER BY checked_on DESC
      """
    ).map(healthCheck(from:))
  }

  static func insertHealthCheck(
    _ tx: PostgresSession, person: Int64, on: LocalDate, until: LocalDate, passed: Bool, examiner: String
  ) async throws -> Tuoyu_Workforce_V1_HealthCheck? {
    try await tx.query(
      """
      INSERT INTO health_check (person_id, checked_on, valid_until, passed, examiner)
      VALUES (\(person), \(on), \(until), \(passed), \(examiner)) ON CONFLICT (person_id, checked_on) DO NOTHING
      RETURNING health_check_id, person_id, checked_on, valid_until, passed, examiner
      """
    ).first.map(healthCheck(from:))
  }

  // MARK: Training

  static func course(from row: PostgresRow) throws -> Tuoyu_Workforce_V1_Course {
    let (code, title, kind, hours) = try row.decode((String, String, Int32, Int32).self)
    return .with {
      $0.code = code
      $0.title = title
      $0.kind = .init(rawValue: Int(kind)) ?? .unspecified
      $0.hours = hours
    }
  }

  static func courses(_ db: PostgresSession) async throws -> [Tuoyu_Workforce_V1_Course] {
    try await db.query("SELECT code, title, kind, hours FROM course ORDER BY code").map(course(from:))
  }

  static func course(_ db: PostgresSession, _ code: String) async throws -> Tuoyu_Workforce_V1_Course? {
    try await db.query("SELECT code, title, kind, hours FROM course WHERE code = \(code)").first.map(course(from:))
  }

  static func insertCourse(_ tx: PostgresSession, _ c: Tuoyu_Workforce_V1_CreateCourseRequest) async throws -> Bool {
    try await !tx.query(
      """
      INSERT INTO course (code, title, kind, hours) VALUES (\(c.code), \(c.title), \(Int32(c.kind.rawValue)), \(c.hours))
      ON CONFLICT (code) DO NOTHING RETURNING code
      """
    ).isEmpty
  }

  static let sessionSelect = """
    SELECT s.session_id, s.course_code, c.kind, s.county_code, s.venue, s.starts_on, s.ends_on, s.capacity,
      s.enrolled, c.hours
    FROM training_session s JOIN course c ON c.code = s.course_code
    """

  static func session(from row: PostgresRow) throws -> Tuoyu_Workforce_V1_TrainingSession {
    let (id, course, kind, county, venue, starts, ends, capacity, enrolled, hours) = try row.decode(
      (Int64, String, Int32, String, String, LocalDate, LocalDate, Int32, Int32, Int32).self)
    return .with {
      $0.sessionID = id
      $0.courseCode = course
      $0.kind = .init(rawValue: Int(kind)) ?? .unspecified
      $0.countyCode = county
      $0.venue = venue
      $0.startsOn = starts.proto
      $0.endsOn = ends.proto
      $0.capacity = capacity
      $0.enrolled = enrolled
      $0.hours = hours
    }
  }

  static func session(_ db: PostgresSession, _ id: Int64) async throws -> Tuoyu_Workforce_V1_TrainingSession? {
    try await db.query(PostgresQuery(unsafeSQL: sessionSelect + " WHERE s.session_id = $1", binds: [.init(id)]))
      .first.map(session(from:))
  }

  static func sessions(
    _ db: PostgresSession, course: String, county: String, year: Int32
  ) async throws
    -> [Tuoyu_Workforce_V1_TrainingSession]
  {
    try await db.query(
      PostgresQuery(
        unsafeSQL: sessionSelect + """
           WHERE ($1 = '' OR s.course_code = $1) AND ($2 = '' OR s.county_code = $2)
            AND ($3 = 0 OR extract(year FROM s.starts_on) = $3)
          ORDER BY s.starts_on, s.session_id LIMIT 1000
          """, binds: [.init(course), .init(county), .init(year)])
    ).map(session(from:))
  }

  static func insertSession(
    _ tx: PostgresSession, _ r: Tuoyu_Workforce_V1_CreateSessionRequest, starts: LocalDate, ends: LocalDate
  ) async throws -> Int64 {
    try await tx.query(
      """
      INSERT INTO training_session (course_code, county_code, venue, starts_on, ends_on, capacity)
      VALUES (\(r.courseCode), \(r.countyCode), \(r.venue), \(starts), \(ends), \(r.capacity)) RETURNING session_id
      """)[0].decode(Int64.self, at: 0)
  }

  /// Takes a seat of the session if one is free: one atomic update, so concurrent enrolments
  /// never take more seats than there are (the row's lock orders them; the CHECK backs it).
  static func takeSeat(_ tx: PostgresSession, session: Int64) async throws -> Bool {
    try await !tx.query(
      """
      UPDATE training_session SET enrolled = enrolled + 1
      WHERE session_id = \(session) AND enrolled < capacity RETURNING enrolled
      """
    ).isEmpty
  }

  static func enrolment(from row: PostgresRow) throws -> Tuoyu_Workforce_V1_Enrolment {
    let (session, person, course, kind, status, hours, completed) = try row.decode(
      (Int64, Int64, String, Int32, Int32, Int32, LocalDate?).self)
    return .with {
      $0.sessionID = session
      $0.personID = person
      $0.courseCode = course
      $0.kind = .init(rawValue: Int(kind)) ?? .unspecified
      $0.status = .init(rawValue: Int(status)) ?? .unspecified
      $0.hoursAttended = hours
      if let completed { $0.completedOn = completed.proto }
    }
  }

  static let enrolmentSelect = """
    SELECT e.session_id, e.person_id, s.course_code, c.kind, e.status, e.hours_attended, e.completed_on
    FROM enrolment e JOIN training_session s USING (session_id) JOIN course c ON c.code = s.course_code
    """

  static func enrolment(
    _ db: PostgresSession, session: Int64, person: Int64
  ) async throws
    -> Tuoyu_Workforce_V1_Enrolment?
  {
    try await db.query(
      PostgresQuery(
        unsafeSQL: enrolmentSelect + " WHERE e.session_id = $1 AND e.person_id = $2",
        binds: [.init(session), .init(person)])
    ).first.map(enrolment(from:))
  }

  static func enrolments(_ db: PostgresSession, person: Int64) async throws -> [Tuoyu_Workforce_V1_Enrolment] {
    try await db.query(
      PostgresQuery(
        unsafeSQL: enrolmentSelect + " WHERE e.person_id = $1 ORDER BY s.starts_on DESC", binds: [.init(person)])
    ).map(enrolment(from:))
  }

  static func insertEnrolment(_ tx: PostgresSession, session: Int64, person: Int64) async throws -> Bool {
    try await !tx.query(
      """
      INSERT INTO enrolment (session_id, person_id) VALUES (\(session), \(person))
      ON CONFLICT DO NOTHING RETURNING session_id
      """
    ).isEmpty
  }

  static func recordAttendance(
    _ tx: PostgresSession, session: Int64, person: Int64, hours: Int32, completed: Bool, on day: LocalDate
  ) async throws {
    try await tx.query(
      """
      UPDATE enrolment SET hours_attended = \(hours), status = \(completed ? Int32(2) : Int32(3)),
        completed_on = \(completed ? day : nil)
      WHERE session_id = \(session) AND person_id = \(person)
      """)
  }
}
