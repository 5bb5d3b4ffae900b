import API
import Foundation
import NIOConcurrencyHelpers
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
      let response = try await pool.withTransaction { tx in
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
        // Queued: sent with the audit row and the COMMIT in one round trip.
        tx.queue(
          """
          UPDATE idempotency SET response = \(PostgresBytes(try response.serializedBytes()))
          WHERE request_id = \(key)
          """)
        try await audit(tx, caller, method, target, requestID, digest, outcome: "OK")
        return response
      }
      Failpoint.reached("after-commit", method)
      return response
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
    // Bounded, so that a refused request with a huge field is still on the record (an index
    // entry holds at most about 2.7 kB).
    tx.queue(
      """
      INSERT INTO audit_log (principal, department, method, target, request_id, request_digest, outcome)
      VALUES (\(caller.subject), \(caller.department), \(method), \(clipped(target)), \(clipped(requestID)),
        md5(\(request)), \(clipped(outcome, bytes: 2048)))
      """)
  }

  static func audit(
    _ tx: PostgresSession, _ caller: Principal, _ method: String, _ target: String, _ requestID: String,
    _ digest: String, outcome: String
  ) async throws {
    tx.queue(
      """
      INSERT INTO audit_log (principal, department, method, target, request_id, request_digest, outcome)
      VALUES (\(caller.subject), \(caller.department), \(method), \(clipped(target)), \(clipped(requestID)), \(digest),
        \(clipped(outcome, bytes: 2048)))
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
    /// The row was accepted but changed nothing (what it says is already so).
    public var unchanged = false
  }

  /// What a row's body did when it was not refused.
  public enum RowEffect: Sendable {
    case changed, unchanged
  }

  /// Ends a validate-only batch's transaction (rolled back) with its rows' outcomes.
  struct RolledBack: Error {
    let outcomes: [(Int, RowOutcome)]
  }

  /// An import that is per row, not all-or-nothing — the audited way every service takes a stream
  /// of rows: each row's declared limits are checked, then `body` runs under the row's own
  /// savepoint with the row's audit record; a refused row is rolled back to its savepoint, audited
  /// with its status and reported through `report`, and the next row goes on. Rows are taken in
  /// batches of `batchSize` per transaction (one commit, not one per row); when a batch as a whole
  /// fails (a lost connection, a deadlock, a failed commit) its rows are run again one transaction
  /// each, so every row still ends exactly once.
  ///
  /// Rows run in `lanes` lanes at once, each on its own connection; a row's lane follows its
  /// `target`, so rows about the same thing (a credit code given twice) run in the order sent and
  /// the later one is the one refused. Outcomes are reported, in the order the rows came, once all
  /// have run. After `maxRows` the import stops and `stopped` is told the first row it did not take.
  /// The audit digest is taken of `redact(row)` (a row carrying personal data is digested without it).
  /// Returns how many rows were received and how many took effect.
  public static func eachRow<Row: LimitedMessage & Sendable>(
    _ pool: PostgresPool, context: ServerContext, rows: RequestStream<Row>, maxRows: Int, batchSize: Int = 200,
    lanes: Int = 3, validateOnly isValidateOnly: (Row) -> Bool = { _ in false },
    target: (Row) -> String, requestID: (Row) -> String, auditedAs redact: (Row) -> Row = { $0 },
    _ body: @escaping @Sendable (Row, PostgresSession) async throws -> RowEffect,
    report: (Row, RowOutcome) -> Void, stopped: (Row) -> Void
  ) async throws -> (received: Int, imported: Int, unchanged: Int) {
    let caller = Principal.caller(context)
    let method = context.descriptor.path
    let lanes = max(1, lanes)
    var received = 0
    // Whether the call only validates: its first row says (set before any batch runs).
    let validating = NIOLockedValueBox(false)
    var streams: [AsyncStream<BatchRow<Row>>.Continuation] = []
    var all: [BatchRow<Row>] = []
    let outcomes = try await withThrowingTaskGroup(of: [(Int, RowOutcome)].self) { group in
      for _ in 0..<lanes {
        let (stream, continuation) = AsyncStream<BatchRow<Row>>.makeStream()
        streams.append(continuation)
        group.addTask {
          var done: [(Int, RowOutcome)] = []
          var batch: [BatchRow<Row>] = []
          batch.reserveCapacity(batchSize)
          for await item in stream {
            batch.append(item)
            if batch.count >= batchSize {
              done += try await runBatch(batch)
              batch.removeAll(keepingCapacity: true)
            }
          }
          if !batch.isEmpty { done += try await runBatch(batch) }
          return done
        }
      }
      defer { for s in streams { s.finish() } }
      for try await incoming in rows {
        var row = incoming
        if received >= maxRows {
          stopped(row)
          break
        }
        let bytes = PostgresBytes(try redact(row).serializedBytes())
        let violations = row.limitViolations()
        let item = BatchRow(
          index: received, row: row, target: target(row), requestID: requestID(row), bytes: bytes,
          violations: violations)
        if received == 0 { validating.withLockedValue { $0 = isValidateOnly(row) } }
        received += 1
        all.append(item)
        var hasher = Hasher()
        hasher.combine(item.target)
        streams[Int(UInt(bitPattern: hasher.finalize()) % UInt(lanes))].yield(item)
      }
      for s in streams { s.finish() }
      var outcomes = [RowOutcome?](repeating: nil, count: received)
      for try await done in group {
        for (index, outcome) in done { outcomes[index] = outcome }
      }
      return outcomes
    }
    var imported = 0
    var unchanged = 0
    for (item, outcome) in zip(all, outcomes) {
      guard let outcome else { continue }
      if outcome.error == nil {
        if outcome.unchanged { unchanged += 1 } else { imported += 1 }
      }
      report(item.row, outcome)
    }
    return (received, imported, unchanged)

    /// One batch in one transaction, or row by row when the transaction as a whole fails.
    @Sendable func runBatch(_ batch: [BatchRow<Row>]) async throws -> [(Int, RowOutcome)] {
      let validateOnly = validating.withLockedValue { $0 }
      do {
        return try await pool.withTransaction(maxAttempts: 1) { tx in
          var outcomes: [(Int, RowOutcome)] = []
          outcomes.reserveCapacity(batch.count)
          for item in batch {
            outcomes.append((item.index, try await runRow(item, tx, savepoint: true)))
          }
          // Validating only: everything the batch did is rolled back.
          if validateOnly { throw RolledBack(outcomes: outcomes) }
          return outcomes
        }
      } catch let done as RolledBack {
        return done.outcomes
      } catch let error where isBatchFailure(error) && !(error is CancellationError) {
        // Run again, one transaction per row.
        var outcomes: [(Int, RowOutcome)] = []
        for item in batch {
          do {
            outcomes.append(
              (
                item.index,
                try await pool.withTransaction { tx in
                  let outcome = try await runRow(item, tx, savepoint: false)
                  if validateOnly { throw RolledBack(outcomes: [(item.index, outcome)]) }
                  return outcome
                }
              ))
          } catch let done as RolledBack {
            outcomes += done.outcomes
          } catch let error where !(error is CancellationError) {
            // Validating only: nothing is audited, the refusal is the answer.
            if validateOnly {
              outcomes.append((item.index, rowOutcome(error)))
              continue
            }
            // Refused alone: audited in a transaction of its own.
            _ = try? await pool.withTransaction { tx in
              try await audit(
                tx, caller, method, item.target, item.requestID, request: item.bytes, outcome: outcome(of: error))
            }
            outcomes.append((item.index, rowOutcome(error)))
          }
        }
        return outcomes
      }
    }

    /// One row in `tx`: under a savepoint in a batch (rolled back to it when refused, the refusal
    /// audited in its place); alone, a refusal is thrown to roll the row's transaction back.
    @Sendable func runRow(_ item: BatchRow<Row>, _ tx: PostgresSession, savepoint: Bool) async throws -> RowOutcome {
      let mark = tx.queueMark
      if savepoint { tx.queue("SAVEPOINT tuoyu_row") }
      do {
        if !item.violations.isEmpty { throw LimitViolations(item.violations) }
        let effect = try await body(item.row, tx)
        try await audit(
          tx, caller, method, item.target, item.requestID, request: item.bytes,
          outcome: effect == .unchanged ? "OK (unchanged)" : "OK")
        if savepoint { tx.queue("RELEASE SAVEPOINT tuoyu_row") }
        // The row's writes go now, so an error in them is the row's.
        try await tx.flush()
        return RowOutcome(error: nil, rule: "", unchanged: effect == .unchanged)
      } catch let error where savepoint && !isBatchFailure(error) {
        if !tx.dropQueued(since: mark) {
          tx.queue("ROLLBACK TO SAVEPOINT tuoyu_row")
          tx.queue("RELEASE SAVEPOINT tuoyu_row")
        }
        try await audit(
          tx, caller, method, item.target, item.requestID, request: item.bytes, outcome: outcome(of: error))
        try await tx.flush()
        return rowOutcome(error)
      }
    }
  }

  struct BatchRow<Row: Sendable>: Sendable {
    let index: Int
    let row: Row
    let target: String
    let requestID: String
    let bytes: PostgresBytes
    let violations: [FieldViolation]
  }

  /// Failures of a batch's transaction rather than of one of its rows.
  static func isBatchFailure(_ error: any Error) -> Bool {
    if error is CancellationError { return true }
    guard let e = error as? PostgresError else { return false }
    return e.isRetryable || e.kind == .connectionLost || e.kind == .poolExhausted || e.kind == .poolClosed
  }

  /// A refused row's outcome: its status, with every violation in the message (an import's
  /// report has one line per row, so all of them go there).
  static func rowOutcome(_ error: any Error) -> RowOutcome {
    var rpc = RPCError.status(of: error) ?? RPCError(code: .internal, message: "\(type(of: error))")
    if let refusals = error as? Refusals, refusals.all.count > 1 {
      rpc.message = refusals.all.map(\.description).joined(separator: "; ")
    } else if let limits = error as? LimitViolations, limits.violations.count > 1 {
      rpc.message =
        limits.violations.map(\.description).joined(separator: "; ")
        + (limits.unreported > 0 ? "; and \(limits.unreported) more" : "")
    }
    return RowOutcome(error: rpc, rule: rule(of: error))
  }

  /// The rule an error names: a refusal's, or a limit's; empty for anything else.
  public static func rule(of error: any Error) -> String {
    (error as? Refusals)?.rule ?? (error as? Refusal)?.rule ?? (error as? LimitViolations)?.violations.first?.rule ?? ""
  }
}

/// At most `bytes` bytes of `s` (whole characters), marked with "…" when cut, NUL shown as U+FFFD
/// (text cannot hold it): what an audit row records of a caller's field.
func clipped(_ s: String, bytes: Int = 256) -> String {
  if s.utf8.count <= bytes && !s.utf8.contains(0) { return s }
  var out = ""
  var used = 0
  for ch in s {
    let shown: Character = ch == "\0" ? "\u{FFFD}" : ch
    let n = shown.utf8.count
    if used + n > bytes - 3 {
      out += "…"
      break
    }
    out.append(shown)
    used += n
  }
  return out
}

/// Crash tests' hook: with `TUOYU_FAILPOINT=after-commit:/tuoyu.subsidy.v1.Subsidy/Disburse` the
/// process ends at once (as if killed) when that method's change has committed and before it
/// replies — so a test proves that a retry after a crash acts once. Unset, it costs one comparison.
public enum Failpoint {
  static let armed: String? = ProcessInfo.processInfo.environment["TUOYU_FAILPOINT"]

  public static func reached(_ point: String, _ method: String) {
    guard let armed, armed == "\(point):\(method)" else { return }
    FileHandle.standardError.write(Data("failpoint \(armed): exiting\n".utf8))
    _exit(137)
  }
}
