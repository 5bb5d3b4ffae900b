import API
import Postgres
import RegistryView
import ServiceKit
import WorkforceAPI

/// All of the workforce service's SQL, one file per table family.
enum WorkforceStore {}

extension WorkforceStore {
  struct PersonRow: Sendable {
    var id: Int64
    var keyID: String
    var sealed: PostgresBytes
    var masked: String
    var birth: LocalDate
    var name: String
    var phone: String
    var education: Int32
    var experience: Int32
  }

  static func personExists(_ tx: PostgresSession, _ id: Int64, lock: Bool) async throws -> Bool {
    let rows =
      lock
      ? try await tx.query("SELECT 1 FROM person WHERE person_id = \(id) FOR UPDATE")
      : try await tx.query("SELECT 1 FROM person WHERE person_id = \(id)")
    return !rows.isEmpty
  }

  /// The hashes of one number under the vault's keys as two parameters (the one key's twice):
  /// `id_hash IN ($1, $2)` keeps one cached plan, where `= ANY($1)` with an array parameter makes
  /// Postgres plan every execution again (a third of the eligibility check's throughput). A vault
  /// holding more than two keys at once (mid-rotation) falls back to the array.
  static func hashPair(_ hashes: [String]) -> (String, String)? {
    switch hashes.count {
    case 1: (hashes[0], hashes[0])
    case 2: (hashes[0], hashes[1])
    default: nil
    }
  }

  static func personID(_ tx: PostgresSession, hashes: [String], lock: Bool) async throws -> Int64? {
    let rows: PostgresRows
    switch (hashPair(hashes), lock) {
    case (let (a, b)?, true):
      rows = try await tx.query("SELECT person_id FROM person WHERE id_hash IN (\(a), \(b)) FOR UPDATE")
    case (let (a, b)?, false): rows = try await tx.query("SELECT person_id FROM person WHERE id_hash IN (\(a), \(b))")
    case (nil, true):
      rows = try await tx.query("SELECT person_id FROM person WHERE id_hash = ANY(\(hashes)) FOR UPDATE")
    case (nil, false): rows = try await tx.query("SELECT person_id FROM person WHERE id_hash = ANY(\(hashes))")
    }
    return try rows.first?.decode(Int64.self, at: 0)
  }

  /// Whether `person` is within `scope` on `day`: everyone for the whole city; for an
  /// institution, its current staff; for a region, a person with no employment at all or with one
  /// there.
  static func visible(_ tx: PostgresSession, person: Int64, _ scope: Scope, on day: LocalDate) async throws -> Bool {
    switch scope {
    case .all: return true
    case .institution(let code):
      return try await !tx.query(
        """
        SELECT 1 FROM employment WHERE person_id = \(person) AND credit_code = \(code)
          AND start_date <= \(day) AND (end_date IS NULL OR end_date > \(day)) LIMIT 1
        """
      ).isEmpty
    case .region(let region):
      let range = RegistryView.counties(of: region)
      return try await tx.query(
        """
        SELECT NOT EXISTS (SELECT 1 FROM employment WHERE person_id = \(person))
          OR EXISTS (SELECT 1 FROM employment WHERE person_id = \(person) AND county_code BETWEEN \(range.lowerBound) AND \(range.upperBound))
        """)[0].decode(Bool.self, at: 0)
    }
  }

  static func insertPerson(
    _ tx: PostgresSession, stored: PersonalDataVault.Stored, hash: String, masked: String, birth: LocalDate,
    _ r: Tuoyu_Workforce_V1_RegisterPersonRequest
  ) async throws -> Int64? {
    try await tx.query(
      """
      INSERT INTO person (id_key, id_hash, id_sealed, id_masked, birth_date, display_name, phone, education,
        experience_years)
      VALUES (\(stored.keyID), \(hash), \(PostgresBytes(stored.sealed)), \(masked), \(birth), \(r.displayName),
        \(r.phone), \(Int32(r.education.rawValue)), \(r.relatedExperienceYears))
      ON CONFLICT (id_hash) DO NOTHING RETURNING person_id
      """
    ).first?.decode(Int64.self, at: 0)
  }

  static func updatePerson(
    _ tx: PostgresSession, _ id: Int64, name: String, phone: String, education: Int32, experience: Int32
  ) async throws {
    try await tx.query(
      """
      UPDATE person SET display_name = \(name), phone = \(phone), education = \(education),
        experience_years = \(experience)
      WHERE person_id = \(id)
      """)
  }

  static func personRow(_ tx: PostgresSession, _ id: Int64) async throws -> PersonRow {
    let row = try await tx.query(
      """
      SELECT person_id, id_key, id_sealed, id_masked, birth_date, display_name, phone, education, experience_years
      FROM person WHERE person_id = \(id)
      """)[0]
    let (pid, key, sealed, masked, birth, name, phone, edu, exp) = try row.decode(
      (Int64, String, PostgresBytes, String, LocalDate, String, String, Int32, Int32).self)
    return PersonRow(
      id: pid, keyID: key, sealed: sealed, masked: masked, birth: birth, name: name, phone: phone, education: edu,
      experience: exp)
  }

  /// Whether a lifetime ban stands against the person (an annulment not yet approved does not
  /// lift it).
  static func banned(_ tx: PostgresSession, _ person: Int64) async throws -> Bool {
    try await !tx.query("SELECT 1 FROM ban WHERE person_id = \(person) AND status <> 'annulled' LIMIT 1").isEmpty
  }

  /// The eligibility check in one statement (one round trip, committed on its own): whether a
  /// ban stands against any of the hashes — an index probe — and its audit row, written by the
  /// same statement (the columns `Mutation.audit` writes; the person by id, or "unknown").
  static func checkEligibility(
    _ db: PostgresSession, hashes pair: (String, String), caller: Principal, method: String, digest: PostgresBytes
  ) async throws -> Bool {
    return try await db.query(
      """
      WITH found AS (
        SELECT p.person_id,
          EXISTS (SELECT 1 FROM ban b WHERE b.person_id = p.person_id AND b.status <> 'annulled') AS banned
        FROM person p WHERE p.id_hash IN (\(pair.0), \(pair.1)) LIMIT 1
      ), audited AS (
        INSERT INTO audit_log (principal, department, method, target, request_id, request_digest, outcome)
        SELECT \(caller.subject), \(caller.department), \(method),
          coalesce('people/' || (SELECT person_id FROM found), 'people/unknown'), '', md5(\(digest)),
          CASE WHEN coalesce((SELECT banned FROM found), false) THEN 'OK: not eligible' ELSE 'OK: eligible' END
      )
      SELECT coalesce((SELECT banned FROM found), false)
      """)[0].decode(Bool.self, at: 0)
  }

  /// The first day the person completed pre-job training (岗前培训), if they have.
  static func preJobCompleted(_ tx: PostgresSession, _ person: Int64) async throws -> LocalDate? {
    try await tx.query(
      """
      SELECT min(e.completed_on) FROM enrolment e JOIN training_session s USING (session_id)
        JOIN course c ON c.code = s.course_code
      WHERE e.person_id = \(person) AND e.status = 2 AND c.kind = 1
      """)[0].decode(LocalDate?.self, at: 0)
  }
}
