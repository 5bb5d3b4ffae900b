import API
import InspectionAPI
import Logging
import Postgres
import RPC
import RegistryView
import ServiceKit
import SubsidyAPI
import SwiftProtobuf

/// The subsidy follows the inspection service's change feed, each event applied exactly once (its
/// effect and the feed cursor commit together, `ChangeFeedConsumer`):
/// - `acceptance.confirmed` → a seat-award application, priced by the policy in force (at most one
///   per acceptance: `application.acceptance_id` is unique);
/// - `inspection.finalised` with critical failures → a hold on the institution's pending payments;
/// - `order.verified` of a critical order → counted against its inspection's hold, released when
///   every critical order of that inspection is verified.
public enum InspectionFollower {
  public static let source = "inspection"

  public static func apply(
    today: @escaping @Sendable () -> LocalDate
  ) -> @Sendable (Tuoyu_Feed_V1_Event, PostgresSession) async throws -> Void {
    { event, tx in
      var options = JSONDecodingOptions()
      options.ignoreUnknownFields = true
      switch event.eventType {
      case "acceptance.confirmed":
        let e = try Tuoyu_Inspection_V1_AcceptanceEvent(jsonString: event.payloadJson, options: options)
        try await award(tx, e)
      case "inspection.finalised":
        let e = try Tuoyu_Inspection_V1_InspectionEvent(jsonString: event.payloadJson, options: options)
        guard e.criticalFailures > 0, e.inspectionID > 0, Self.plausible(creditCode: e.creditCode) else { return }
        let on = LocalDate(e.inspectedOn) ?? today()
        try await tx.query(
          """
          INSERT INTO hold (inspection_id, credit_code, critical_findings, placed_on)
          VALUES (\(e.inspectionID), \(e.creditCode), \(e.criticalFailures), \(on))
          ON CONFLICT (inspection_id) DO NOTHING
          """)
      case "order.verified":
        let e = try Tuoyu_Inspection_V1_OrderEvent(jsonString: event.payloadJson, options: options)
        guard e.severity == "critical" else { return }
        let on = LocalDate(e.verifiedOn) ?? today()
        try await tx.query(
          """
          WITH counted AS (
            INSERT INTO hold_verified (inspection_id, order_id, verified_on)
            SELECT inspection_id, \(e.orderID), \(on) FROM hold WHERE inspection_id = \(e.inspectionID)
            ON CONFLICT DO NOTHING RETURNING inspection_id
          )
          UPDATE hold h SET released_on = \(on)
          WHERE h.inspection_id = \(e.inspectionID) AND h.released_on IS NULL
            AND (SELECT count(*) FROM hold_verified v WHERE v.inspection_id = h.inspection_id)
              + (SELECT count(*) FROM counted) >= h.critical_findings
          """)
      default:
        return
      }
    }
  }

  /// A seat award for a city-confirmed acceptance: gross = seats × the award per seat in force for
  /// its year and county; created once (a repeated event changes nothing).
  static func award(_ tx: PostgresSession, _ e: Tuoyu_Inspection_V1_AcceptanceEvent) async throws {
    guard e.acceptanceID > 0, e.confirmedSeats > 0, (2000...2200).contains(e.year), plausible(creditCode: e.creditCode),
      e.countyCode.utf8.count == 6, e.countyCode.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
    else { return }
    let terms = try await SubsidyStore.terms(tx, year: e.year, county: e.countyCode)
    guard let gross = Split.gross(seats: e.confirmedSeats, perSeatFen: terms.awardPerSeatFen) else { return }
    try await tx.query(
      """
      INSERT INTO application (programme, year, county_code, credit_code, acceptance_id, seats, gross_fen, policy_version,
        city_share, county_share, created_by)
      VALUES ('seat-award', \(e.year), \(e.countyCode), \(e.creditCode), \(e.acceptanceID), \(e.confirmedSeats), \(gross),
        \(terms.version), \(terms.cityShare), \(terms.countyShare), 'inspection')
      ON CONFLICT (acceptance_id) DO NOTHING
      """)
  }

  static func plausible(creditCode: String) -> Bool {
    creditCode.utf8.count == 18
      && creditCode.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) }
  }

  public static func follower(
    pool: PostgresPool, client: RPCClient, logger: Logger,
    today: @escaping @Sendable () -> LocalDate = { LocalDate.today() }
  ) -> FeedFollower {
    FeedFollower(
      consumer: ChangeFeedConsumer(source: source, pool: pool), client: client, logger: logger,
      effect: apply(today: today))
  }
}

extension SubsidyService {
  public func listHolds(
    request: Tuoyu_Subsidy_V1_ListHoldsRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_ListHoldsResponse {
    let rows = try await pool.withConnection {
      try await $0.query(
        """
        SELECT h.inspection_id, h.credit_code, h.critical_findings,
          (SELECT count(*) FROM hold_verified v WHERE v.inspection_id = h.inspection_id)::int, h.placed_on, h.released_on
        FROM hold h
        WHERE (\(request.creditCode) = '' OR h.credit_code = \(request.creditCode))
          AND (NOT \(request.activeOnly) OR h.released_on IS NULL)
        ORDER BY h.inspection_id DESC LIMIT 1000
        """)
    }
    return try .with {
      $0.holds = try rows.map { r in
        let (inspection, credit, critical, verified, placed, released) = try r.decode(
          (Int64, String, Int32, Int32, LocalDate, LocalDate?).self)
        return .with {
          $0.inspectionID = inspection
          $0.creditCode = credit
          $0.criticalFindings = critical
          $0.verified = verified
          $0.placedOn = placed.description
          $0.releasedOn = released?.description ?? ""
        }
      }
    }
  }

  /// Per region (the city for the city's shares, each county for its own) and programme: budget,
  /// committed (approved), paid, and held (pending money of institutions on hold).
  public func getReport(
    request: Tuoyu_Subsidy_V1_GetReportRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_GetReportResponse {
    let range = try counties(request.regionCode, context) ?? "000000"..."999999"
    let rows = try await pool.withConnection {
      try await $0.query(
        """
        WITH a AS (
          SELECT a.application_id, a.programme, a.county_code, a.status, a.city_share, a.county_share,
            greatest(a.gross_fen - a.upper_fen, 0) AS payable,
            EXISTS (SELECT 1 FROM hold h WHERE h.credit_code = a.credit_code AND a.credit_code <> ''
              AND h.released_on IS NULL) AS held
          FROM application a WHERE a.year = \(request.year)
        ), parts AS (
          SELECT s.region_code, a.programme, s.payer, s.amount_fen AS committed,
            CASE WHEN s.payment_id IS NOT NULL THEN s.amount_fen ELSE 0 END AS paid,
            CASE WHEN s.payment_id IS NULL AND a.held THEN s.amount_fen ELSE 0 END AS held, a.application_id
          FROM share s JOIN a ON a.application_id = s.application_id
          UNION ALL
          SELECT CASE WHEN p.payer = 'city' THEN substr(a.county_code, 1, 4) || '00' ELSE a.county_code END,
            a.programme, p.payer, 0, 0,
            CASE WHEN NOT a.held THEN 0
              WHEN p.payer = 'city' THEN a.payable * a.city_share / (a.city_share + a.county_share)
              ELSE a.payable - a.payable * a.city_share / (a.city_share + a.county_share) END,
            a.application_id
          FROM a CROSS JOIN (VALUES ('city'), ('county')) AS p(payer) WHERE a.status IN ('submitted', 'reviewed')
        ), totals AS (
          SELECT region_code, programme, payer, sum(committed)::bigint AS c, sum(paid)::bigint AS p,
            sum(held)::bigint AS h, count(DISTINCT application_id)::int AS n
          FROM parts GROUP BY region_code, programme, payer
        ), b AS (SELECT * FROM budget WHERE year = \(request.year))
        SELECT * FROM (
          SELECT coalesce(t.region_code, b.region_code) AS region, coalesce(t.programme, b.programme) AS programme,
            coalesce(t.payer, CASE WHEN b.region_code LIKE '%00' THEN 'city' ELSE 'county' END) AS payer,
            coalesce(b.amount_fen, 0), coalesce(t.c, 0), coalesce(t.p, 0), coalesce(t.h, 0), coalesce(t.n, 0)
          FROM totals t FULL JOIN b ON b.region_code = t.region_code AND b.programme = t.programme
        ) x
        WHERE region BETWEEN \(range.lowerBound) AND \(range.upperBound)
        ORDER BY region, programme, payer
        """)
    }
    return try .with {
      $0.rows = try rows.map { r in
        let (region, programme, payer, budget, committed, paid, held, n) = try r.decode(
          (String, String, String, Int64, Int64, Int64, Int64, Int32).self)
        return .with {
          $0.countyCode = region
          $0.programme = Self.programme(programme)
          $0.payer = Self.payer(payer)
          $0.budget = Self.money(budget)
          $0.committed = Self.money(committed)
          $0.paid = Self.money(paid)
          $0.held = Self.money(held)
          $0.applications = n
        }
      }
    }
  }
}
