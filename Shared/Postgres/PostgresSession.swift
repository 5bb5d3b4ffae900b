import NIOPosix

/// A leased connection, valid inside `withConnection` / `withTransaction`. Each statement runs
/// non-blocking from the calling task; cancelling the task cancels the statement on the server
/// (the task still waits for the server's answer, so the connection is clean for the next lease).
public struct PostgresSession: Sendable {
  public let connection: PostgresConnection
  let pool: PostgresPool

  /// Runs a parameterised statement (with any queued before it, in one round trip).
  @discardableResult
  public func query(_ query: PostgresQuery) async throws -> PostgresRows {
    let queued = connection.queued
    if queued.isEmpty { return try await run { try await $0.query(query) } }
    connection.queued = []
    return try await run { try await $0.pipeline(queued + [query]) }.last!
  }

  /// Runs a parameterised statement with its results in binary (`PostgresQuery.binary()`).
  @discardableResult
  public func query(binary query: PostgresQuery) async throws -> PostgresRows {
    try await self.query(query.binary())
  }

  /// Queues a statement whose rows are not needed (an insert of an audit row, a version, an event):
  /// it is sent with the next `query` (one round trip for all), in order, and an error in it is
  /// thrown there. `withTransaction` sends what is queued with its COMMIT and `withConnection` at
  /// its end; a rollback drops it. Keep the queue short (a request's writes, not a bulk load).
  public func queue(_ query: PostgresQuery) {
    connection.queued.append(query)
  }

  /// Queues a statement for the end of the transaction: sent with the COMMIT, after everything
  /// else, all such statements in `key` order. For writes to rows that many transactions share
  /// (running totals): taken last and in one order, their locks are held briefly and never in
  /// crossing orders, so concurrent transactions neither wait long nor deadlock on them.
  public func queueAtCommit(_ query: PostgresQuery, key: String) {
    connection.atCommit.append((key, query))
  }

  /// A mark of the queues: pass it to `dropQueued(since:)`.
  public var queueMark: QueueMark {
    QueueMark(
      generation: connection.queueGeneration, count: connection.queued.count, atCommit: connection.atCommit.count)
  }

  public struct QueueMark: Sendable {
    let generation: Int
    let count: Int
    let atCommit: Int
  }

  /// Drops what was queued since `mark` (for the end of the transaction too) and returns true when
  /// none of it was sent yet (the queue has not gone out since); returns false, dropping the whole
  /// queue, when some of it has.
  public func dropQueued(since mark: QueueMark) -> Bool {
    if connection.atCommit.count >= mark.atCommit { connection.atCommit.removeSubrange(mark.atCommit...) }
    if connection.queueGeneration == mark.generation && connection.queued.count >= mark.count {
      connection.queued.removeSubrange(mark.count...)
      return true
    }
    connection.queued = []
    return false
  }

  /// Moves the statements queued for the end of the transaction, in key order, to the queue.
  func queueCommitStatements() {
    guard !connection.atCommit.isEmpty else { return }
    let ordered = connection.atCommit.enumerated().sorted {
      ($0.element.key, $0.offset) < ($1.element.key, $1.offset)
    }
    connection.atCommit = []
    connection.queued += ordered.map(\.element.query)
  }

  /// Sends what is queued (if anything) now.
  public func flush() async throws {
    let queued = connection.queued
    guard !queued.isEmpty else { return }
    connection.queued = []
    _ = try await run { try await $0.pipeline(queued) }
  }

  /// Runs SQL without parameters (DDL, transaction control), after sending what is queued.
  @discardableResult
  public func execute(_ sql: String) async throws -> PostgresRows {
    try await flush()
    return try await run { try await $0.execute(sql) }
  }

  /// Rolls back, even when the calling task is cancelled (no cancellation check before it), and
  /// drops what is queued.
  func rollback() async {
    connection.queued = []
    connection.atCommit = []
    _ = try? await connection.execute("ROLLBACK")
  }

  private func run<T>(
    _ body: @Sendable (PostgresConnection) async throws -> T
  ) async throws -> T {
    try Task.checkCancellation()
    let connection = self.connection
    return try await withTaskCancellationHandler {
      do {
        return try await body(connection)
      } catch let error as PostgresError where error.kind == .connectionLost {
        // The server went away since this connection was last used (restart, killed backend):
        // reconnect once and run again — only outside a transaction, where nothing is lost.
        guard connection.inIdleState else { throw error }
        try await pool.threads.runIfActive { try connection.reset() }
        return try await body(connection)
      }
    } onCancel: {
      // PQcancel opens a connection of its own and waits for it: never on the thread that
      // cancels (an RPC deadline cancels from the event loop).
      let statement = connection.runningStatement
      guard statement != 0 else { return }  // between statements: the next one checks first
      pool.threads.submit { state in
        if case .active = state { connection.cancel(statement: statement) }
      }
    }
  }
}
