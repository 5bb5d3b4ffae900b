import API
import Postgres
import RegistryView
import ServiceKit
import WorkforceAPI

/// The registry's institutions and rule values as compliance reads them (`RegistryView`), and the
/// staff it checks.
extension WorkforceStore {
  struct InstitutionRow: Sendable {
    var creditCode: String
    var name: String
    var status: String
    var county: String
    var classes: [Staffing.ClassSeats]
  }

  static func institution(from v: RegistryView.Institution) -> InstitutionRow {
    InstitutionRow(
      creditCode: v.creditCode, name: v.name, status: v.status, county: v.county,
      classes: [
        .init(.infant, classes: v.infant.classes, seats: v.infant.seats),
        .init(.toddler, classes: v.toddler.classes, seats: v.toddler.seats),
        .init(.olderToddler, classes: v.olderToddler.classes, seats: v.olderToddler.seats),
        .init(.mixed, classes: v.mixed.classes, seats: v.mixed.seats),
        .init(.family, classes: v.family > 0 ? 1 : 0, seats: v.family),
      ])
  }

  static func institution(_ db: PostgresSession, _ code: String) async throws -> InstitutionRow? {
    try await RegistryView.institution(db, code).map(institution(from:))
  }

  /// Filed institutions of the counties `counties`, by credit code after `after`.
  static func filedInstitutions(
    _ db: PostgresSession, counties: ClosedRange<String>, after: String, limit: Int
  )
    async throws -> [InstitutionRow]
  {
    try await RegistryView.filed(db, counties: counties, after: after, limit: limit).map(institution(from:))
  }

  static func rules(_ db: PostgresSession) async throws -> [Staffing.RuleValue] {
    try await RegistryView.rules(db).map {
      Staffing.RuleValue(key: $0.key, region: $0.region, from: $0.from, value: $0.value)
    }
  }

  /// The staff of the institutions named, employed on `day`, with what compliance needs of each
  /// (certificates, health checks, the first completed pre-job training): four queries however
  /// many institutions.
  static func members(
    _ db: PostgresSession, institutions codes: [String], on day: LocalDate
  ) async throws
    -> [String: [Staffing.Member]]
  {
    let employed = try await db.query(
      """
      SELECT e.credit_code, e.person_id, p.display_name, e.role FROM employment e JOIN person p USING (person_id)
      WHERE e.credit_code = ANY(\(codes)) AND e.start_date <= \(day) AND (e.end_date IS NULL OR e.end_date > \(day))
      ORDER BY e.credit_code, e.person_id, e.role
      """)
    var people = Set<Int64>()
    var rows: [(String, Int64, String, Int32)] = []
    for row in employed {
      let r = try row.decode((String, Int64, String, Int32).self)
      rows.append(r)
      people.insert(r.1)
    }
    let ids = Array(people)
    var certificates: [Int64: [Staffing.Certificate]] = [:]
    for row in try await db.query(
      "SELECT person_id, kind, issued, expires FROM certificate WHERE person_id = ANY(\(ids)) AND issued <= \(day)")
    {
      let (p, k, issued, expires) = try row.decode((Int64, Int32, LocalDate, LocalDate?).self)
      certificates[p, default: []].append(
        .init(kind: .init(rawValue: Int(k)) ?? .unspecified, issued: issued, expires: expires))
    }
    var checks: [Int64: [Staffing.HealthCheck]] = [:]
    for row in try await db.query(
      """
      SELECT person_id, checked_on, valid_until, passed FROM health_check
      WHERE person_id = ANY(\(ids)) AND checked_on <= \(day)
      """)
    {
      let (p, on, until, passed) = try row.decode((Int64, LocalDate, LocalDate, Bool).self)
      checks[p, default: []].append(.init(checkedOn: on, validUntil: until, passed: passed))
    }
    var preJob: [Int64: LocalDate] = [:]
    for row in try await db.query(
      """
      SELECT e.person_id, min(e.completed_on) FROM enrolment e JOIN training_session s USING (session_id)
        JOIN course c ON c.code = s.course_code
      WHERE e.person_id = ANY(\(ids)) AND e.status = 2 AND c.kind = 1 GROUP BY e.person_id
      """)
    {
      let (p, on) = try row.decode((Int64, LocalDate).self)
      preJob[p] = on
    }
    var out: [String: [Staffing.Member]] = [:]
    for (code, person, name, role) in rows {
      out[code, default: []].append(
        .init(
          personID: person, name: name, role: .init(rawValue: Int(role)) ?? .unspecified,
          certificates: certificates[person] ?? [], healthChecks: checks[person] ?? [],
          preJobCompletedOn: preJob[person]))
    }
    return out
  }
}
