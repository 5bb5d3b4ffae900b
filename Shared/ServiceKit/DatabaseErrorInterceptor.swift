import Postgres
import RPC

/// Turns the database's failures that mean something to a caller into their status codes:
/// the database down or the pool exhausted → UNAVAILABLE (retry), a serialization failure or
/// deadlock that outlived the transaction's retries → ABORTED (retry), a unique violation →
/// ALREADY_EXISTS, a statement timeout → DEADLINE_EXCEEDED. Anything else stays an INTERNAL
/// error (a bug), logged with a correlation id by the server.
public struct DatabaseErrorInterceptor: ServerInterceptor {
  public init() {}

  public func intercept(context: ServerContext, next: (ServerContext) async throws -> Void) async throws {
    do {
      try await next(context)
    } catch let error as PostgresError {
      if Task.isCancelled { throw error }
      throw Self.map(error) ?? error
    }
  }

  public static func map(_ error: PostgresError) -> RPCError? {
    switch error.kind {
    case .connectFailed, .connectionLost, .poolExhausted, .poolClosed:
      return RPCError(code: .unavailable, message: "the database is unavailable; retry later")
    case .serializationFailure, .deadlockDetected:
      return RPCError(code: .aborted, message: "a concurrent change conflicted; retry")
    case .uniqueViolation:
      return RPCError(code: .alreadyExists, message: "already exists (\(error.constraint ?? "unique constraint"))")
    case .nulInText:
      return RPCError(code: .invalidArgument, message: "a text value contains a NUL character, which cannot be stored")
    case .queryCanceled:
      return RPCError(code: .deadlineExceeded, message: "the statement took too long and was cancelled")
    default:
      return nil
    }
  }
}

extension RPCError {
  /// The status `error` answers a call with, when it names one: an `RPCError`, an error that
  /// converts (refusals), or a database failure that means something to a caller. Nil for
  /// anything else — a bug, answered INTERNAL.
  public static func status(of error: any Error) -> RPCError? {
    if let e = error as? RPCError { return e }
    if let e = error as? any RPCErrorConvertible { return e.rpcError }
    if let e = error as? PostgresError { return DatabaseErrorInterceptor.map(e) }
    return nil
  }
}
