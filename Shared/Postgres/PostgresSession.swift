import NIOPosix

/// A leased connection, valid inside `withConnection` / `withTransaction`. Each statement runs
/// non-blocking from the calling task; cancelling the task cancels the statement on the server
/// (the task still waits for the server's answer, so the connection is clean for the next lease).
public struct PostgresSession: Sendable {
  public let connection: PostgresConnection
  let pool: PostgresPool

  /// Runs a parameterised statement.
  @discardableResult
  public func query(_ query: PostgresQuery) async throws -> PostgresRows {
    try await run { try await $0.query(query) }
  }

  /// Runs SQL without parameters (DDL, transaction control).
  @discardableResult
  public func execute(_ sql: String) async throws -> PostgresRows {
    try await run { try await $0.execute(sql) }
  }

  /// Rolls back, even when the calling task is cancelled (no cancellation check before it).
  func rollback() async {
    _ = try? await connection.execute("ROLLBACK")
  }

  private func run(
    _ body: @Sendable (PostgresConnection) async throws -> PostgresRows
  ) async throws -> PostgresRows {
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
      connection.cancel()
    }
  }
}
