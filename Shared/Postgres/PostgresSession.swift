import NIOPosix

/// A leased connection, valid inside `withConnection` / `withTransaction`. Each statement runs
/// on the pool's threads; cancelling the calling task cancels the statement on the server.
public struct PostgresSession: Sendable {
  public let connection: PostgresConnection
  let pool: PostgresPool

  /// Runs a parameterised statement.
  @discardableResult
  public func query(_ query: PostgresQuery) async throws -> PostgresRows {
    try await run { try $0.query(query) }
  }

  /// Runs SQL without parameters (DDL, transaction control).
  @discardableResult
  public func execute(_ sql: String) async throws -> PostgresRows {
    try await run { try $0.execute(sql) }
  }

  /// Rolls back, even when the calling task is cancelled (the future-based submission is not
  /// skipped on cancellation, unlike the async one).
  func rollback() async {
    let connection = self.connection
    _ = try? await pool.threads.runIfActive(eventLoop: MultiThreadedEventLoopGroup.singleton.next()) {
      try connection.execute("ROLLBACK")
    }.get()
  }

  private func run(
    _ body: @escaping @Sendable (PostgresConnection) throws -> PostgresRows
  ) async throws
    -> PostgresRows
  {
    try Task.checkCancellation()
    let connection = self.connection
    return try await withTaskCancellationHandler {
      try await pool.threads.runIfActive {
        do {
          return try body(connection)
        } catch let error as PostgresError where error.kind == .connectionLost {
          // The server went away since this connection was last used (restart, killed backend):
          // reconnect once and run again — only outside a transaction, where nothing is lost.
          guard connection.inIdleState else { throw error }
          try connection.reset()
          return try body(connection)
        }
      }
    } onCancel: {
      connection.cancel()
    }
  }
}
