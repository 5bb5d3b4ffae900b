import API
import Foundation
import Postgres
import RPC

/// `tuoyu.feed.v1.ChangeFeed` over a service's outbox: replays from a position, then follows new
/// events — woken by `NOTIFY` (an outbox trigger notifies `tuoyu_outbox_<schema>` on commit) when
/// a listener is given, and by polling every `pollInterval` in any case. Events are served by
/// feed position (migration 0005), given to a row only once no transaction that could commit
/// before it is still open, so a reader sees every event exactly once, in one order, even when
/// transactions commit out of cursor order.
public struct ChangeFeedService: Tuoyu_Feed_V1_ChangeFeed.ServiceProtocol {
  public let source: String
  public let pool: PostgresPool
  public let pollInterval: Duration
  public let batchSize: Int
  public let listener: PostgresListener?

  public init(
    source: String, pool: PostgresPool, pollInterval: Duration = .milliseconds(200), batchSize: Int = 500,
    listener: PostgresListener? = nil
  ) {
    self.source = source
    self.pool = pool
    self.pollInterval = pollInterval
    self.batchSize = batchSize
    self.listener = listener
  }

  /// The notification channel of a schema's outbox (migration 0004's trigger).
  public static func channel(schema: String) -> String { "tuoyu_outbox_\(schema)" }

  /// Gives positions to the rows whose transactions can no longer be overtaken (migration 0005),
  /// one assigner per schema at a time. Returns whether rows are left waiting for an older
  /// transaction to finish.
  func assignPositions() async throws -> Bool {
    // The common case — every row already has its position — costs one index probe, no write.
    let unpositioned = try await pool.query("SELECT EXISTS (SELECT 1 FROM outbox WHERE position IS NULL)")
    guard try unpositioned[0].decode(Bool.self, at: 0) else { return false }
    return try await pool.withTransaction { tx in
      try await tx.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.outbox_position'))")
      try await tx.query(
        """
        UPDATE outbox o SET position = p.position
        FROM (SELECT cursor, nextval('outbox_position') AS position
              FROM (SELECT cursor FROM outbox
                    WHERE position IS NULL AND txid < pg_snapshot_xmin(pg_current_snapshot())
                    ORDER BY txid, cursor) ready) p
        WHERE o.cursor = p.cursor
        """)
      return try await tx.query("SELECT EXISTS (SELECT 1 FROM outbox WHERE position IS NULL)")[0].decode(
        Bool.self, at: 0)
    }
  }

  /// The next events after feed position `cursor`.
  public func events(after cursor: Int64) async throws -> [Tuoyu_Feed_V1_Event] {
    try await poll(after: cursor).events
  }

  func poll(after cursor: Int64) async throws -> (events: [Tuoyu_Feed_V1_Event], pending: Bool) {
    let pending = try await assignPositions()
    let rows = try await pool.query(
      """
      SELECT position, event_type, subject, payload::text, created_at FROM outbox
      WHERE position > \(cursor) ORDER BY position LIMIT \(batchSize)
      """)
    let formatter = ISO8601DateFormatter()
    let events = try rows.map { row in
      let (cursor, type, subject, payload, at) = try row.decode((Int64, String, String, String, Date).self)
      var e = Tuoyu_Feed_V1_Event()
      e.cursor = cursor
      e.source = source
      e.eventType = type
      e.subject = subject
      e.payloadJson = payload
      e.occurredAt = formatter.string(from: at)
      return e
    }
    return (events, pending)
  }

  public func watchEvents(
    request: Tuoyu_Feed_V1_WatchEventsRequest, context: ServerContext,
    responses: ResponseWriter<Tuoyu_Feed_V1_Event>
  ) async throws {
    guard request.afterCursor >= 0 else {
      throw RPCError(code: .invalidArgument, message: "after_cursor must be >= 0")
    }
    var cursor = request.afterCursor
    while !Task.isCancelled {
      let generation = listener?.generation ?? 0
      let batch: [Tuoyu_Feed_V1_Event]
      let pending: Bool
      do {
        (batch, pending) = try await poll(after: cursor)
      } catch let error as PostgresError {
        // The same mapping the service's interceptor applies, for servers without it.
        throw error.mappedRPCError ?? error
      }
      for event in batch {
        try await responses.write(event)
        cursor = event.cursor
      }
      if batch.count < batchSize {
        if request.stopAtEnd && !pending { return }
        if pending {
          // Committed rows wait for an older transaction to finish; that sends no notification.
          try await Task.sleep(for: .milliseconds(50))
        } else if let listener {
          await listener.wait(after: generation, timeout: pollInterval)
        } else {
          try await Task.sleep(for: pollInterval)
        }
      }
    }
    throw CancellationError()
  }
}
