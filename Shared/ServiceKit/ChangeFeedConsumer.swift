import API
import Logging
import Postgres
import RPC

/// Follows another service's change feed and applies each event exactly once: the effect and the
/// new cursor (in the consumer's own `feed_cursor` table) commit in one transaction, so a crash
/// at any point either applied both or neither, and the next run resumes from the stored cursor.
public struct ChangeFeedConsumer: Sendable {
  public let source: String
  public let pool: PostgresPool

  public init(source: String, pool: PostgresPool) {
    self.source = source
    self.pool = pool
  }

  /// The last cursor applied (0 if none).
  public func storedCursor() async throws -> Int64 {
    let rows = try await pool.query("SELECT last_cursor FROM feed_cursor WHERE source = \(source)")
    return try rows.first?.decode(Int64.self, at: 0) ?? 0
  }

  /// Applies `event` with `effect` unless it was applied before; returns whether it was applied now.
  @discardableResult
  public func apply(
    _ event: Tuoyu_Feed_V1_Event, _ effect: (Tuoyu_Feed_V1_Event, PostgresSession) async throws -> Void
  ) async throws -> Bool {
    let applied = try await pool.withTransaction { tx in
      try await tx.query(
        """
        INSERT INTO feed_cursor (source, last_cursor) VALUES (\(source), 0) ON CONFLICT (source) DO NOTHING
        """)
      let last = try await tx.query(
        "SELECT last_cursor FROM feed_cursor WHERE source = \(source) FOR UPDATE")[0].decode(Int64.self, at: 0)
      guard event.cursor > last else { return false }
      try await effect(event, tx)
      try await tx.query(
        """
        UPDATE feed_cursor SET last_cursor = \(event.cursor), updated_at = now() WHERE source = \(source)
        """)
      return true
    }
    if applied { Telemetry.feedApplied(source: source, cursor: event.cursor, occurredAt: event.occurredAt) }
    return applied
  }

  /// Follows the feed served at `client` from the stored cursor until cancelled or the stream
  /// ends; each event goes through `apply`.
  public func run(
    client: RPCClient, _ effect: @escaping (Tuoyu_Feed_V1_Event, PostgresSession) async throws -> Void
  ) async throws {
    let after = try await storedCursor()
    let stream = try await Tuoyu_Feed_V1_ChangeFeed.Client(client).watchEvents(.with { $0.afterCursor = after })
    try await withTaskCancellationHandler {
      while let event = try await stream.receive() {
        try await apply(event, effect)
      }
    } onCancel: {
      stream.cancel()
    }
  }

  /// Follows the feed for as long as the task runs: when the stream ends or the source is
  /// unreachable, waits (1 s, doubling up to 30 s) and resumes from the stored cursor. An error
  /// from `effect` is logged and retried the same way — the event is not skipped.
  public func follow(
    client: RPCClient, logger: Logger,
    _ effect: @escaping (Tuoyu_Feed_V1_Event, PostgresSession) async throws -> Void
  ) async {
    var delay = Duration.seconds(1)
    while !Task.isCancelled {
      do {
        try await run(client: client, effect)
        delay = .seconds(1)
      } catch {
        if Task.isCancelled { return }
        logger.warning(
          "change feed interrupted; resuming",
          metadata: [
            "source": "\(source)", "error": "\(error)", "retry_in": "\(delay)",
          ])
      }
      try? await Task.sleep(for: delay)
      delay = min(delay * 2, .seconds(30))
    }
  }
}
