import API
import Foundation
import Postgres
import RPC
import SwiftProtobuf

/// Runs a mutating RPC the one way every service does: idempotent by `request_id`, audited in the
/// same transaction as its change.
///
/// - The first call with a `request_id` runs `body` in a transaction that also stores the
///   response under that id and writes the audit row; all commit together or not at all.
/// - A retry with the same id and the same request returns the stored response without acting.
/// - The same id with a different request is refused (FAILED_PRECONDITION).
/// - A refused call changes nothing and leaves an audit row with its status.
public enum Mutation {
  public static func run<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ pool: PostgresPool, context: ServerContext, requestID: String, request: Request, target: String,
    _ body: (PostgresSession) async throws -> Response
  ) async throws -> Response {
    guard !requestID.isEmpty, requestID.utf8.count <= 128 else {
      throw RPCError(code: .invalidArgument, message: "request_id is required (1–128 characters) for a change")
    }
    let caller = Principal.caller(context)
    let method = context.descriptor.path
    let bytes = PostgresBytes(try request.serializedBytes())
    // Request ids are the caller's own: another principal reusing one neither reads the first
    // result nor is refused because of it.
    let key = "\(caller.subject)\u{1F}\(requestID)"
    do {
      return try await pool.withTransaction { tx in
        let claimed = try await tx.query(
          """
          INSERT INTO idempotency (request_id, method, request_digest, response)
          VALUES (\(key), \(method), md5(\(bytes)), '\\x') ON CONFLICT (request_id) DO NOTHING
          RETURNING request_digest
          """)
        guard let digest = try claimed.first?.decode(String.self, at: 0) else {
          // Seen before (or committed meanwhile by a concurrent call with the same id).
          let row = try await tx.query(
            """
            SELECT method = \(method) AND request_digest = md5(\(bytes)), response
            FROM idempotency WHERE request_id = \(key)
            """)[0]
          guard try row.decode(Bool.self, at: 0) else {
            throw RPCError(
              code: .failedPrecondition,
              message: "request_id \(quoted(requestID)) was already used for a different request (rule: idempotency)")
          }
          return try Response(serializedBytes: try row.decode(PostgresBytes.self, at: 1).bytes)
        }
        let response = try await body(tx)
        try await tx.query(
          """
          UPDATE idempotency SET response = \(PostgresBytes(try response.serializedBytes()))
          WHERE request_id = \(key)
          """)
        try await audit(tx, caller, method, target, requestID, digest, outcome: "OK")
        return response
      }
    } catch {
      // The change rolled back; the refusal is still on the record.
      _ = try? await pool.withTransaction { tx in
        try await audit(tx, caller, method, target, requestID, request: bytes, outcome: outcome(of: error))
      }
      throw error
    }
  }

  /// What the audit log says of a call that failed with `error`.
  public static func outcome(of error: any Error) -> String {
    RPCError.status(of: error).map { "\($0.code): \($0.message)" } ?? "INTERNAL: \(type(of: error))"
  }

  /// An audit row whose digest is taken from the serialized request.
  public static func audit(
    _ tx: PostgresSession, _ caller: Principal, _ method: String, _ target: String, _ requestID: String,
    request: PostgresBytes, outcome: String
  ) async throws {
    try await tx.query(
      """
      INSERT INTO audit_log (principal, department, method, target, request_id, request_digest, outcome)
      VALUES (\(caller.subject), \(caller.department), \(method), \(target), \(requestID), md5(\(request)), \(outcome))
      """)
  }

  static func audit(
    _ tx: PostgresSession, _ caller: Principal, _ method: String, _ target: String, _ requestID: String,
    _ digest: String, outcome: String
  ) async throws {
    try await tx.query(
      """
      INSERT INTO audit_log (principal, department, method, target, request_id, request_digest, outcome)
      VALUES (\(caller.subject), \(caller.department), \(method), \(target), \(requestID), \(digest), \(outcome))
      """)
  }
}

extension Mutation {
  /// How one row of a per-row import ended.
  public struct RowOutcome: Sendable {
    /// Nil when the row took effect.
    public var error: RPCError?
    /// The rule that refused it (empty when none is named).
    public var rule: String
  }

  /// An import that is per row, not all-or-nothing — the audited way every service takes a stream
  /// of rows: each row's declared limits are checked, then `body` runs in the row's own
  /// transaction with the row's audit record; a refused row is audited with its status (in a
  /// transaction of its own) and reported through `report`, and the next row goes on. After
  /// `maxRows` the import stops and `stopped` is told the first row it did not take.
  /// Returns how many rows were received and how many took effect.
  public static func eachRow<Row: LimitedMessage>(
    _ pool: PostgresPool, context: ServerContext, rows: RequestStream<Row>, maxRows: Int,
    target: (Row) -> String, requestID: (Row) -> String,
    _ body: (Row, PostgresSession) async throws -> Void,
    report: (Row, RowOutcome) -> Void, stopped: (Row) -> Void
  ) async throws -> (received: Int, imported: Int) {
    let caller = Principal.caller(context)
    let method = context.descriptor.path
    var received = 0
    var imported = 0
    for try await incoming in rows {
      var row = incoming
      if received >= maxRows {
        stopped(row)
        break
      }
      received += 1
      let target = target(row)
      let requestID = requestID(row)
      let bytes = PostgresBytes(try row.serializedBytes())
      do {
        let violations = row.limitViolations()
        if !violations.isEmpty { throw LimitViolations(violations) }
        try await pool.withTransaction { tx in
          try await body(row, tx)
          try await audit(tx, caller, method, target, requestID, request: bytes, outcome: "OK")
        }
        imported += 1
        report(row, RowOutcome(error: nil, rule: ""))
      } catch {
        _ = try? await pool.withTransaction { tx in
          try await audit(tx, caller, method, target, requestID, request: bytes, outcome: outcome(of: error))
        }
        let rpc = RPCError.status(of: error) ?? RPCError(code: .internal, message: "\(type(of: error))")
        report(row, RowOutcome(error: rpc, rule: rule(of: error)))
      }
    }
    return (received, imported)
  }

  /// The rule an error names: a refusal's, or a limit's; empty for anything else.
  public static func rule(of error: any Error) -> String {
    (error as? Refusals)?.rule ?? (error as? Refusal)?.rule ?? (error as? LimitViolations)?.violations.first?.rule ?? ""
  }
}
