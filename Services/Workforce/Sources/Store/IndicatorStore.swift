import API
import Postgres
import ServiceKit
import WorkforceAPI

extension WorkforceStore {
  /// Figures per county ("" for people no employment places) for the indicators of `year`, as of
  /// `day` (the year's end, or today within the current year).
  struct CountyFigures: Sendable {
    var certifiable = 0
    var certified = 0
    var newlyCertified = 0
    var trainedInYear = 0
    var trainedCumulative = 0
    var hoursInYear: Int64 = 0
  }

  static func indicatorFigures(
    _ db: PostgresSession, year: Int32, day: LocalDate
  ) async throws -> (
    counties: [String: CountyFigures], cityTrainedInYear: Int, cityTrainedCumulative: Int
  ) {
    var figures: [String: CountyFigures] = [:]
    for row in try await db.query(
      """
      SELECT county_code FROM institution_view WHERE county_code <> ''
      UNION SELECT county_code FROM employment UNION SELECT county_code FROM training_session
      """)
    {
      figures[try row.decode(String.self, at: 0)] = CountyFigures()
    }
    // Caregivers and health workers employed on the day, and those of them certified for the role.
    for row in try await db.query(
      """
      WITH staff AS (
        SELECT DISTINCT county_code, person_id, role FROM employment
        WHERE role IN (1, 2) AND start_date <= \(day) AND (end_date IS NULL OR end_date > \(day)))
      SELECT county_code, count(*), count(*) FILTER (WHERE EXISTS (
        SELECT 1 FROM certificate c WHERE c.person_id = staff.person_id AND c.issued <= \(day)
          AND (c.expires IS NULL OR c.expires >= \(day))
          AND ((staff.role = 1 AND c.kind IN (1, 2, 4)) OR (staff.role = 2 AND c.kind = 3))))
      FROM staff GROUP BY county_code
      """)
    {
      let (county, n, certified) = try row.decode((String, Int64, Int64).self)
      figures[county, default: .init()].certifiable = Int(n)
      figures[county, default: .init()].certified = Int(certified)
    }
    // People whose first 育婴员 or 保育员 certificate was issued in the year, placed in the county of
    // their employment on the day (else their latest).
    for row in try await db.query(
      """
      WITH firsts AS (SELECT person_id, min(issued) AS first FROM certificate WHERE kind IN (1, 2) GROUP BY person_id)
      SELECT coalesce((SELECT e.county_code FROM employment e WHERE e.person_id = f.person_id
          ORDER BY (e.start_date <= \(day) AND (e.end_date IS NULL OR e.end_date > \(day))) DESC, e.start_date DESC
          LIMIT 1), ''), count(*)
      FROM firsts f WHERE f.first BETWEEN make_date(\(year), 1, 1) AND least(make_date(\(year), 12, 31), \(day))
      GROUP BY 1
      """)
    {
      let (county, n) = try row.decode((String, Int64).self)
      figures[county, default: .init()].newlyCertified = Int(n)
    }
    // Completed training, counted in the county that ran the session; the city's totals count a
    // person once however many counties trained them.
    var cityYear = 0
    var cityCumulative = 0
    for row in try await db.query(
      """
      SELECT s.county_code, GROUPING(s.county_code),
        count(DISTINCT e.person_id) FILTER (WHERE e.completed_on >= make_date(\(year), 1, 1)),
        count(DISTINCT e.person_id),
        coalesce(sum(e.hours_attended) FILTER (WHERE e.completed_on >= make_date(\(year), 1, 1)), 0)
      FROM enrolment e JOIN training_session s USING (session_id)
      WHERE e.status = 2 AND e.completed_on <= least(make_date(\(year), 12, 31), \(day))
      GROUP BY GROUPING SETS ((s.county_code), ())
      """)
    {
      let (county, grouping, inYear, cumulative, hours) = try row.decode((String?, Int32, Int64, Int64, Int64).self)
      if grouping == 1 {
        cityYear = Int(inYear)
        cityCumulative = Int(cumulative)
      } else if let county {
        figures[county, default: .init()].trainedInYear = Int(inYear)
        figures[county, default: .init()].trainedCumulative = Int(cumulative)
        figures[county, default: .init()].hoursInYear = hours
      }
    }
    return (figures, cityYear, cityCumulative)
  }
}
