import API
import Foundation
import InspectionAPI
import Logging
import Postgres
import RPC
import RegistryAPI
import ServiceKit
import SwiftProtobuf

/// The registry follows the inspection service's change feed: an inspection finalised with a
/// critical failure suspends the institution (if it is filed), with the inspection as the reason —
/// exactly once, since the suspension and the feed cursor commit together (`ChangeFeedConsumer`).
/// Reinstatement stays the approver's decision (`ReinstateInstitution`) once the rectification is
/// verified (`order.verified` on the same feed). `grade.computed` keeps each institution's latest
/// credit grade for the public listing.
public enum InspectionFollower {
  public static let source = "inspection"
  /// Who the suspension is recorded as made by.
  static let principal = Principal(subject: "inspection", department: "health", roles: [Roles.service])

  /// The effect of one inspection event, as of `today`.
  public static func apply(
    today: @escaping @Sendable () -> LocalDate
  ) -> @Sendable (Tuoyu_Feed_V1_Event, PostgresSession) async throws -> Void {
    { event, tx in
      var options = JSONDecodingOptions()
      options.ignoreUnknownFields = true
      if event.eventType == "grade.computed" {
        let g = try Tuoyu_Inspection_V1_GradeEvent(jsonString: event.payloadJson, options: options)
        guard ["A", "B", "C", "D"].contains(g.grade), (0...100).contains(g.score), let asOf = LocalDate(g.asOf) else {
          return
        }
        // A later grade replaces an earlier one, never the other way round.
        try await tx.query(
          """
          INSERT INTO institution_grade (credit_code, grade, score, as_of) VALUES (\(g.creditCode), \(g.grade), \(g.score), \(asOf))
          ON CONFLICT (credit_code) DO UPDATE SET grade = EXCLUDED.grade, score = EXCLUDED.score, as_of = EXCLUDED.as_of,
            updated_at = now()
          WHERE institution_grade.as_of <= EXCLUDED.as_of
          """)
        return
      }
      guard event.eventType == "inspection.finalised" else { return }
      let e = try Tuoyu_Inspection_V1_InspectionEvent(jsonString: event.payloadJson, options: options)
      guard e.criticalFailures > 0, !e.creditCode.isEmpty else { return }
      let known = try await tx.query("SELECT 1 FROM institution WHERE credit_code = \(e.creditCode)")
      guard !known.isEmpty else { return }
      let previous = try await RegistryStore.current(tx, e.creditCode)
      // Only a filed institution is suspended; one already suspended (or closed) stays as it is.
      guard previous.status == .filed else { return }
      var next = previous
      next.status = try Lifecycle.next(from: previous.status, .suspend)
      let day = max(today(), LocalDate(previous.effectiveDate) ?? today())
      next.effectiveDate = day.proto
      next.decisionDue = .init()
      next.reasons = [
        "inspection \(e.inspectionID) on \(e.inspectedOn): \(e.criticalFailures) critical finding\(e.criticalFailures == 1 ? "" : "s") (suspended until the rectification is verified and an approver reinstates it)"
      ]
      _ = try await RegistryStore.append(tx, next, event: .suspend, by: principal, after: previous)
    }
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

extension RegistryService {
  /// The registry as an executable runs it: with `--peer-inspection HOST:PORT` (and its service
  /// token) it follows the inspection service's feed and suspends on critical findings.
  @Sendable public static func build(_ deps: ServiceDependencies) throws -> [any RPCService] {
    if deps.configuration.peers[InspectionFollower.source] != nil {
      deps.addBackground(
        InspectionFollower.follower(
          pool: deps.pool, client: try deps.peer(InspectionFollower.source), logger: deps.logger))
    } else {
      deps.logger.warning("no --peer-inspection: critical inspection findings will not suspend institutions")
    }
    return [RegistryService(pool: deps.pool)]
  }
}
