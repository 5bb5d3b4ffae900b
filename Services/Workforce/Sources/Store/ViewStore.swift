import API
import Postgres
import RegistryAPI
import ServiceKit
import WorkforceAPI

/// The registry's institutions and rule values as this service follows them, and what compliance
/// and the indicators read.
extension WorkforceStore {
  struct InstitutionRow: Sendable {
    var creditCode: String
    var name: String
    var status: String
    var county: String
    var classes: [Staffing.ClassSeats]
  }

  static let institutionSelect = """
    SELECT credit_code, display_name, status, county_code, infant_classes, infant_seats, toddler_classes,
      toddler_seats, older_classes, older_seats, mixed_classes, mixed_seats, family_seats
    FROM institution_view
    """

  static func institution(from row: PostgresRow) throws -> InstitutionRow {
    let (code, name, status, county, ic, iseats, tc, ts, oc, os, mc, ms, fs) = try row.decode(
      (String, String, String, String, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32).self)
    return InstitutionRow(
      creditCode: code, name: name, status: status, county: county,
      classes: [
        .init(.infant, classes: Int(ic), seats: Int(iseats)), .init(.toddler, classes: Int(tc), seats: Int(ts)),
        .init(.olderToddler, classes: Int(oc), seats: Int(os)), .init(.mixed, classes: Int(mc), seats: Int(ms)),
        .init(.family, classes: fs > 0 ? 1 : 0, seats: Int(fs)),
      ])
  }

  static func institution(_ db: PostgresSession, _ code: String) async throws -> InstitutionRow? {
    try await db.query(PostgresQuery(unsafeSQL: institutionSelect + " WHERE credit_code = $1", binds: [.init(code)]))
      .first.map(institution(from:))
  }

  /// Filed institutions of the counties `counties`, by credit code after `after`.
  static func filedInstitutions(
    _ db: PostgresSession, counties: ClosedRange<String>, after: String, limit: Int
  ) async throws
    -> [InstitutionRow]
  {
    try await db.query(
      PostgresQuery(
        unsafeSQL: institutionSelect
          + " WHERE county_code BETWEEN $1 AND $2 AND status = 'filed' AND credit_code > $3 ORDER BY credit_code LIMIT $4",
        binds: [.init(counties.lowerBound), .init(counties.upperBound), .init(after), .init(Int64(limit))])
    ).map(institution(from:))
  }

  /// Applies an institution event of the registry: the view takes the newer version only.
  static func applyInstitution(_ tx: PostgresSession, _ e: Tuoyu_Registry_V1_InstitutionEvent) async throws {
    let s = e.seatsByClass
    try await tx.query(
      """
      INSERT INTO institution_view (credit_code, display_name, status, county_code, township_code, inclusive, mode,
        version, infant_classes, infant_seats, toddler_classes, toddler_seats, older_classes, older_seats,
        mixed_classes, mixed_seats, family_seats)
      VALUES (\(e.creditCode), \(e.displayName), \(e.status), \(e.countyCode), \(e.townshipCode), \(e.inclusive),
        \(Int32(e.mode.rawValue)), \(e.version), \(s.infant.classes), \(s.infant.seats), \(s.toddler.classes),
        \(s.toddler.seats), \(s.olderToddler.classes), \(s.olderToddler.seats), \(s.mixed.classes), \(s.mixed.seats),
        \(s.family))
      ON CONFLICT (credit_code) DO UPDATE SET display_name = EXCLUDED.display_name, status = EXCLUDED.status,
        county_code = EXCLUDED.county_code, township_code = EXCLUDED.township_code, inclusive = EXCLUDED.inclusive,
        mode = EXCLUDED.mode, version = EXCLUDED.version, infant_classes = EXCLUDED.infant_classes,
        infant_seats = EXCLUDED.infant_seats, toddler_classes = EXCLUDED.toddler_classes,
        toddler_seats = EXCLUDED.toddler_seats, older_classes = EXCLUDED.older_classes,
        older_seats = EXCLUDED.older_seats, mixed_classes = EXCLUDED.mixed_classes, mixed_seats = EXCLUDED.mixed_seats,
        family_seats = EXCLUDED.family_seats, updated_at = now()
      WHERE institution_view.version < EXCLUDED.version
      """)
  }

  static func applyRule(_ tx: PostgresSession, _ v: Tuoyu_Registry_V1_RuleValue, from: LocalDate) async throws {
    try await tx.query(
      """
      INSERT INTO rule_view (key, region_code, effective_from, value) VALUES (\(v.key), \(v.regionCode), \(from), \(v.value))
      ON CONFLICT (key, region_code, effective_from) DO UPDATE SET value = EXCLUDED.value
      """)
  }

  static func rules(_ db: PostgresSession) async throws -> [Staffing.RuleValue] {
    try await db.query("SELECT key, region_code, effective_from, value FROM rule_view").map {
      let (k, r, f, v) = try $0.decode((String, String, LocalDate, Int32).self)
      return Staffing.RuleValue(key: k, region: r, from: f, value: Int(v))
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
