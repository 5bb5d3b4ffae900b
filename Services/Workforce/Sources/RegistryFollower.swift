import API
import Foundation
import Logging
import Postgres
import RegistryAPI
import ServiceKit
import RPC
import SwiftProtobuf

/// The registry's change feed as this service follows it: institutions (their status, county and
/// seats per class, for hiring and compliance) and rule values (staffing ratios) into local views,
/// each event exactly once (`ChangeFeedConsumer`: the view and the cursor commit together).
public enum RegistryFollower {
  public static let source = "registry"

  /// What an event of the registry does here; events of other kinds are passed over.
  @Sendable public static func apply(_ event: Tuoyu_Feed_V1_Event, _ tx: PostgresSession) async throws {
    var options = JSONDecodingOptions()
    options.ignoreUnknownFields = true
    if event.eventType.hasPrefix("institution.") {
      let e = try Tuoyu_Registry_V1_InstitutionEvent(jsonString: event.payloadJson, options: options)
      guard !e.creditCode.isEmpty, !e.status.isEmpty else { return }
      try await WorkforceStore.applyInstitution(tx, e)
    } else if event.eventType == "rules.put" {
      let v = try Tuoyu_Registry_V1_RuleValue(jsonString: event.payloadJson, options: options)
      // Events from before rule values carried their payload say nothing to apply.
      guard !v.key.isEmpty, v.value >= 1, let from = LocalDate(v.effectiveFrom) else { return }
      try await WorkforceStore.applyRule(tx, v, from: from)
    }
  }

  /// The background work that follows the registry at `client` (the service's own token).
  public static func follower(pool: PostgresPool, client: RPCClient, logger: Logger) -> FeedFollower {
    FeedFollower(
      consumer: ChangeFeedConsumer(source: source, pool: pool), client: client, logger: logger, effect: apply)
  }
}
