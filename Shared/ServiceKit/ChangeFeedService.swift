import Foundation
import Postgres
import RPC

/// `tuoyu.feed.v1.ChangeFeed` over a service's outbox: replays from the cursor, then follows new
/// events by polling. A row is sent only when no transaction that began before it is still open
/// (`txid < pg_snapshot_xmin`), so cursors are delivered in order with no gaps even when
/// transactions commit out of cursor order.
public struct ChangeFeedService: Tuoyu_Feed_V1_ChangeFeed.ServiceProtocol {
  public let source: String
  public let pool: PostgresPool
  public let pollInterval: Duration
  public let batchSize: Int

  public init(source: String, pool: PostgresPool, pollInterval: Duration = .milliseconds(200), batchSize: Int = 500) {
    self.source = source
    self.pool = pool
    self.pollInterval = pollInterval
    self.batchSize = batchSize
  }

  /// The next committed events after `cursor`.
  public func events(after cursor: Int64) async throws -> [Tuoyu_Feed_V1_Event] {
    let rows = try await pool.query("""
      SELECT cursor, event_type, subject, payload::text, created_at FROM outbox
      WHERE cursor > \(cursor) AND txid < pg_snapshot_xmin(pg_current_snapshot())
      ORDER BY cursor LIMIT \(batchSize)
      """)
    let formatter = ISO8601DateFormatter()
    return try rows.map { row in
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
      let batch: [Tuoyu_Feed_V1_Event]
      do {
        batch = try await events(after: cursor)
      } catch let error as PostgresError {
        throw RPCError(code: .unavailable, message: "the change feed's database is unavailable: \(error.kind)")
      }
      for event in batch {
        try await responses.write(event)
        cursor = event.cursor
      }
      if batch.count < batchSize { try await Task.sleep(for: pollInterval) }
    }
    throw CancellationError()
  }
}
