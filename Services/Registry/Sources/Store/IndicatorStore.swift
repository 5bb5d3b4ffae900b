import Postgres
import ServiceKit

extension RegistryStore {
  /// The codes of every city.
  static func cityCodes(_ db: PostgresSession) async throws -> [String] {
    try await db.query("SELECT code FROM region WHERE level = 'city' ORDER BY code").map {
      try $0.decode(String.self, at: 0)
    }
  }

  /// The root, every region under it, and their figures for `year` (0 when none).
  static func regionTree(_ db: PostgresSession, root: String, year: Int32) async throws -> [IndicatorRules.Region] {
    try await db.query(
      """
      WITH RECURSIVE t AS (
        SELECT code, name, level, parent_code FROM region WHERE code = \(root)
        UNION ALL SELECT r.code, r.name, r.level, r.parent_code FROM region r JOIN t ON r.parent_code = t.code)
      SELECT t.code, t.name, t.level, t.parent_code, coalesce(y.population, 0), coalesce(y.seat_target, 0)
      FROM t LEFT JOIN region_year y ON y.code = t.code AND y.year = \(year)
      ORDER BY t.code
      """
    ).map { row in
      let (code, name, level, parent, population, target) = try row.decode(
        (String, String, String, String?, Int64, Int64).self)
      return IndicatorRules.Region(
        code: code, name: name, level: level, parent: parent, population: population, seatTarget: target)
    }
  }

  /// What was filed (status filed in the version in force) at the end of `day`, per township: the
  /// sum of the filed changes on or before it (migration 0102) — whole years before `day`'s from
  /// the yearly sums, its own year from the daily ones — not a walk of every version.
  static func filedByTownship(_ db: PostgresSession, on day: LocalDate) async throws -> [IndicatorRules.Filed] {
    let rows: PostgresRows
    if day == LocalDate(year: day.year, month: 12, day: 31)! {
      rows = try await db.query(
        """
        SELECT county_code, township_code, sum(institutions)::bigint, sum(seats)::bigint, sum(inclusive_seats)::bigint,
          sum(inclusive_institutions) > 0
        FROM filed_change_year WHERE year <= \(day.year)
        GROUP BY county_code, township_code HAVING sum(institutions) > 0
        """)
    } else {
      rows = try await db.query(
        """
        WITH c AS (
          SELECT county_code, township_code, institutions, seats, inclusive_institutions, inclusive_seats
          FROM filed_change_year WHERE year < \(day.year)
          UNION ALL
          SELECT county_code, township_code, institutions, seats, inclusive_institutions, inclusive_seats
          FROM filed_change WHERE day >= \(LocalDate(year: day.year, month: 1, day: 1)!) AND day <= \(day))
        SELECT county_code, township_code, sum(institutions)::bigint, sum(seats)::bigint, sum(inclusive_seats)::bigint,
          sum(inclusive_institutions) > 0
        FROM c GROUP BY county_code, township_code HAVING sum(institutions) > 0
        """)
    }
    return try rows.map { row in
      let (county, township, n, seats, inclusiveSeats, anyInclusive) = try row.decode(
        (String, String, Int64, Int64, Int64, Bool).self)
      return IndicatorRules.Filed(
        county: county, township: township, institutions: n, seats: seats, inclusiveSeats: inclusiveSeats,
        anyInclusive: anyInclusive)
    }
  }
}
