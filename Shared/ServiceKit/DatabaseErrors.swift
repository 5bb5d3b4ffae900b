import Postgres
import RPC

/// The database's failures that mean something to a caller, as statuses — the one mapping, as a
/// conformance the server, metrics, audit, imports and the change feed all go through
/// (`RPCError.status(of:)`): the database down or the pool exhausted → UNAVAILABLE (retry), a
/// serialization failure or deadlock that outlived the transaction's retries → ABORTED (retry), a
/// unique violation → ALREADY_EXISTS, a statement timeout → DEADLINE_EXCEEDED, NUL in a text →
/// INVALID_ARGUMENT, a CHECK named `rule:NAME` → FAILED_PRECONDITION (rule NAME). Anything else is nil: a bug, answered INTERNAL with a logged correlation id.
extension PostgresError: RPCErrorMappable {
  public var mappedRPCError: RPCError? {
    switch kind {
    case .connectFailed, .connectionLost, .poolExhausted, .poolClosed:
      return RPCError(code: .unavailable, message: "the database is unavailable; retry later")
    case .serializationFailure, .deadlockDetected:
      return RPCError(code: .aborted, message: "a concurrent change conflicted; retry")
    case .uniqueViolation:
      return RPCError(code: .alreadyExists, message: "already exists (\(constraint ?? "unique constraint"))")
    case .nulInText:
      return RPCError(code: .invalidArgument, message: "a text value contains a NUL character, which cannot be stored")
    case .queryCanceled:
      return RPCError(code: .deadlineExceeded, message: "the statement took too long and was cancelled")
    case .checkViolation where constraint?.hasPrefix("rule:") == true:
      // A CHECK named for a business rule (`CONSTRAINT "rule:budget.exceeded" CHECK (…)`): the
      // database is where the rule holds under concurrency, and its refusal is the caller's.
      let rule = String(constraint!.dropFirst(5))
      return Refusal.precondition(rule, "the change would break the rule \(rule), which the database enforces").rpcError
    default:
      return nil
    }
  }
}
