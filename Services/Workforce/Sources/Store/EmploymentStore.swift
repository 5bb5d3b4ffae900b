import API
import Postgres
import ServiceKit
import WorkforceAPI

extension WorkforceStore {
  typealias Employment = Tuoyu_Workforce_V1_Employment

  /// Employments with the person's name and masked number and the institution's name, as
  /// `employment(from:)` reads them, filtered by `rest` (a WHERE clause and what follows it; its
  /// values bound as usual — the fixed text before it has none).
  static func employments(_ rest: PostgresQuery) -> PostgresQuery {
    PostgresQuery(
      unsafeSQL: """
        SELECT e.employment_id, e.person_id, p.display_name, p.id_masked, e.credit_code,
          coalesce(i.display_name, ''), e.county_code, e.role, e.start_date, e.end_date, e.end_reason
        FROM employment e JOIN person p USING (person_id) LEFT JOIN institution_view i USING (credit_code)
        """ + " " + rest.sql, binds: rest.binds)
  }

  static func employment(from row: PostgresRow) throws -> Employment {
    let (id, person, name, masked, code, inst, county, role, start, end, reason) = try row.decode(
      (Int64, Int64, String, String, String, String, String, Int32, LocalDate, LocalDate?, String).self)
    return .with {
      $0.name = "employments/\(id)"
      $0.employmentID = id
      $0.personID = person
      $0.personName = name
      $0.idNumber = masked
      $0.creditCode = code
      $0.institutionName = inst
      $0.countyCode = county
      $0.role = Tuoyu_Workforce_V1_StaffRole(rawValue: Int(role)) ?? .unspecified
      $0.startDate = start.proto
      if let end { $0.endDate = end.proto }
      $0.endReason = reason
    }
  }

  static func employment(_ tx: PostgresSession, _ id: Int64, lock: Bool = false) async throws -> Employment? {
    let rows =
      lock
      ? try await tx.query(employments("WHERE e.employment_id = \(id) FOR UPDATE OF e"))
      : try await tx.query(employments("WHERE e.employment_id = \(id)"))
    return try rows.first.map(employment(from:))
  }

  static func employments(_ tx: PostgresSession, person: Int64) async throws -> [Employment] {
    try await tx.query(
      employments(
        """
        WHERE e.person_id = \(person) ORDER BY e.start_date DESC, e.employment_id DESC
        """)
    ).map(employment(from:))
  }

  /// Whether the person already holds an open employment at the institution in the role.
  static func openEmployment(
    _ tx: PostgresSession, person: Int64, creditCode: String, role: Int32
  ) async throws
    -> Employment?
  {
    let rows = try await tx.query(
      employments(
        """
        WHERE e.person_id = \(person) AND e.credit_code = \(creditCode) AND e.role = \(role) AND e.end_date IS NULL
        """))
    return try rows.first.map(employment(from:))
  }

  static func insertEmployment(
    _ tx: PostgresSession, person: Int64, creditCode: String, county: String, role: Int32, start: LocalDate
  ) async throws -> Int64 {
    try await tx.query(
      """
      INSERT INTO employment (person_id, credit_code, county_code, role, start_date)
      VALUES (\(person), \(creditCode), \(county), \(role), \(start)) RETURNING employment_id
      """)[0].decode(Int64.self, at: 0)
  }

  static func endEmployment(_ tx: PostgresSession, _ id: Int64, on day: LocalDate, reason: String) async throws {
    try await tx.query(
      """
      UPDATE employment SET end_date = greatest(\(day), start_date), end_reason = \(reason)
      WHERE employment_id = \(id) AND end_date IS NULL
      """)
  }

  /// The open employments of a person, locked (a ban ends them all).
  static func openEmployments(_ tx: PostgresSession, person: Int64) async throws -> [Int64] {
    try await tx.query(
      """
      SELECT employment_id FROM employment WHERE person_id = \(person) AND end_date IS NULL
      ORDER BY employment_id FOR UPDATE
      """
    ).map { try $0.decode(Int64.self, at: 0) }
  }

  /// A page of staff — of one institution, or of the counties `counties` (a range of county
  /// codes), or all — in employment order after `after`. Only the filters given are in the
  /// statement, so each combination is planned for its own index (institution, county).
  static func staff(
    _ db: PostgresSession, creditCode: String?, counties: ClosedRange<String>?, includeEnded: Bool,
    on day: LocalDate, after: Int64, limit: Int
  ) async throws -> [Employment] {
    var q: PostgresQuery = "WHERE e.employment_id > \(after)"
    func and(_ fragment: String, _ values: [PostgresBind]) {
      var text = fragment
      for v in values {
        q.binds.append(v)
        text = text.replacingOccurrences(of: "?", with: "$\(q.binds.count)", options: [], range: text.range(of: "?"))
      }
      q.sql += " AND " + text
    }
    if let creditCode { and("e.credit_code = ?", [.init(creditCode)]) }
    if let counties { and("e.county_code BETWEEN ? AND ?", [.init(counties.lowerBound), .init(counties.upperBound)]) }
    if !includeEnded { and("(e.end_date IS NULL OR e.end_date > ?)", [.init(day)]) }
    q.binds.append(.init(Int64(limit)))
    q.sql += " ORDER BY e.employment_id LIMIT $\(q.binds.count)"
    return try await db.query(employments(q)).map(employment(from:))
  }
}
