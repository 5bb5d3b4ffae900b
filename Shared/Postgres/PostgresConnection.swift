import CLibPQ
import NIOConcurrencyHelpers

/// One libpq connection, driven non-blocking: a statement is sent from the calling task, which
/// then parks until the answer is on the socket (`PostgresReactor`) and reads it — no thread hop
/// per statement. Connecting and resetting block, so the pool runs them on its own threads. Used by
/// one caller at a time (a pool lease); only `cancel()` may be called from another thread while a
/// statement runs.
public final class PostgresConnection: @unchecked Sendable {
  private var conn: OpaquePointer?
  private var cancelHandle: OpaquePointer?
  private let cancelLock = NIOLock()
  /// Whether a statement is executing (guarded by `cancelLock`): a cancel is sent only then, so
  /// a late cancel cannot hit the next lease's statement.
  private var running = false
  /// Counts statements (guarded by `cancelLock`), so a late cancel can tell them apart.
  private var statementSerial: UInt64 = 0
  private let setup: [String]
  private let reactor = PostgresReactor.shared

  /// Connects from a URL (`postgresql://user@host:port/db?sslmode=…`) or a `key=value`
  /// conninfo string; every libpq option is accepted. `setup` statements run after connecting.
  /// Blocks while connecting.
  public init(conninfo: String, setup: [String] = []) throws {
    self.setup = ["SET TimeZone = 'UTC'", "SET DateStyle = 'ISO, YMD'", "SET bytea_output = 'hex'"] + setup
    conn = PQconnectdb(conninfo)
    guard PQstatus(conn) == CONNECTION_OK else {
      let message = Self.errorMessage(conn)
      PQfinish(conn)
      conn = nil
      throw PostgresError(.connectFailed, "cannot connect to Postgres: \(message)")
    }
    try afterConnect()
  }

  deinit {
    if let cancelHandle { PQfreeCancel(cancelHandle) }
    if let conn {
      reactor.forget(fd: PQsocket(conn))
      PQfinish(conn)
    }
  }

  /// Statements with parameters are prepared once per connection and then only executed: the
  /// server parses and plans each once, not on every call. Keyed by SQL text and parameter types;
  /// a new session (reconnect) starts with none.
  private struct StatementKey: Hashable {
    let sql: String
    let types: [Oid]
  }
  private var prepared: [StatementKey: String] = [:]
  private var preparedCount = 0
  /// Past this many distinct statements on one connection, further ones run unprepared (a bound on
  /// the server's memory whatever SQL a caller builds).
  public static let maxPreparedStatements = 512

  /// Whether statements with parameters are prepared (the default); off, each runs as an unnamed
  /// statement, parsed and planned every time (for comparison in `bench/postgres.sh`).
  public var preparesStatements = true

  /// How many statements this connection holds prepared.
  public var preparedStatements: Int { prepared.count }

  private func afterConnect() throws {
    prepared = [:]
    // Setup runs blocking (PQexec ignores non-blocking mode), then every statement is sent
    // non-blocking.
    for statement in setup {
      let result = PQexec(conn, statement)
      _ = try check(result)
    }
    guard PQsetnonblocking(conn, 1) == 0 else {
      throw PostgresError(.connectFailed, "cannot make the connection non-blocking: \(Self.errorMessage(conn))")
    }
    cancelLock.withLock {
      if let cancelHandle { PQfreeCancel(cancelHandle) }
      cancelHandle = PQgetCancel(conn)
    }
  }

  /// Whether libpq knows the connection is gone.
  public var isBroken: Bool { conn == nil || unsettled || PQstatus(conn) != CONNECTION_OK }
  /// Set while a pipeline is sent and read: one that stopped half way leaves results unread, and
  /// such a connection is never used again (the pool drops it, a session resets it).
  private var unsettled = false

  /// Whether the connection was outside any transaction before its last statement (so a
  /// statement that failed on a lost connection may safely run again after a reset).
  var inIdleState: Bool { lastTransactionStatus == PQTRANS_IDLE }
  private var lastTransactionStatus = PQTRANS_IDLE

  /// The server process serving this connection.
  public var backendPID: Int32 { PQbackendPID(conn) }

  /// Reconnects with the same parameters (blocks while connecting).
  public func reset() throws {
    reactor.forget(fd: PQsocket(conn))
    queued = []
    atCommit = []
    unsettled = false
    if PQpipelineStatus(conn) != PQ_PIPELINE_OFF { _ = PQexitPipelineMode(conn) }
    PQreset(conn)
    guard PQstatus(conn) == CONNECTION_OK else {
      throw PostgresError(.connectFailed, "cannot reconnect to Postgres: \(Self.errorMessage(conn))")
    }
    try afterConnect()
  }

  /// Whether the connection is outside any transaction and not executing (safe to lend out).
  public var isIdle: Bool { conn != nil && PQtransactionStatus(conn) == PQTRANS_IDLE }

  /// The statement running now (0 when none): pass it to `cancel(statement:)` (thread-safe).
  public var runningStatement: UInt64 { cancelLock.withLock { running ? statementSerial : 0 } }

  /// Asks the server to cancel the statement running on this connection (thread-safe). With
  /// `statement`, only if that one is still running: a cancel sent later, from another thread,
  /// never hits a statement that started since. Blocks while it connects to the server, so it is
  /// not called on an event loop.
  public func cancel(statement: UInt64? = nil) {
    cancelLock.withLock {
      guard running, let cancelHandle, statement == nil || statement == statementSerial else { return }
      var buffer = [CChar](repeating: 0, count: 256)
      _ = PQcancel(cancelHandle, &buffer, Int32(buffer.count))
    }
  }

  /// Runs a statement without parameters (may hold several statements; the last one's rows are
  /// returned, the first error thrown).
  @discardableResult
  public func execute(_ sql: String) async throws -> PostgresRows {
    lastTransactionStatus = PQtransactionStatus(conn)
    return try await whileRunning {
      try submitted(PQsendQuery(conn, sql))
      return try await results()
    }
  }

  private func whileRunning<T>(_ body: () async throws -> T) async rethrows -> T {
    cancelLock.withLock {
      running = true
      statementSerial &+= 1
    }
    defer { cancelLock.withLock { running = false } }
    return try await body()
  }

  /// Runs a parameterised statement.
  public func query(_ query: PostgresQuery) async throws -> PostgresRows {
    lastTransactionStatus = PQtransactionStatus(conn)
    let count = query.binds.count
    if count == 0 {
      return try await whileRunning {
        try submitted(PQsendQueryParams(conn, query.sql, 0, nil, nil, nil, nil, query.resultFormat))
        return try await results()
      }
    }
    var types = query.binds.map { Oid($0.oid) }
    let key = StatementKey(sql: query.sql, types: types)
    var name = prepared[key]
    if name == nil && preparesStatements && prepared.count < Self.maxPreparedStatements {
      preparedCount += 1
      let newName = "tuoyu_s\(preparedCount)"
      _ = try await whileRunning {
        try submitted(PQsendPrepare(conn, newName, query.sql, Int32(count), &types))
        return try await results()
      }
      prepared[key] = newName
      name = newName
    }
    do {
      return try await whileRunning {
        // The values are copied into libpq's output buffer by the send, so they live only
        // through it.
        try withParameterValues(query.binds) { values in
          if let name {
            try submitted(PQsendQueryPrepared(conn, name, Int32(count), values, nil, nil, query.resultFormat))
          } else {
            try submitted(
              PQsendQueryParams(conn, query.sql, Int32(count), &types, values, nil, nil, query.resultFormat))
          }
        }
        return try await results()
      }
    } catch let error as PostgresError where error.sqlState == "26000" || error.sqlState == "0A000" {
      // The server no longer has the statement, or its cached plan no longer fits the table it
      // reads (a migration changed it): prepare it again next time.
      prepared[key] = nil
      throw error
    }
  }

  /// Statements queued by `PostgresSession.queue(_:)`, sent with the next statement that is not.
  var queued: [PostgresQuery] = [] {
    didSet { if queued.isEmpty && !oldValue.isEmpty { queueGeneration &+= 1 } }
  }
  /// Raised whenever the queue is sent or dropped: unchanged means nothing queued since has gone.
  var queueGeneration = 0
  /// Statements queued for the end of the transaction, each with the key that orders them there.
  var atCommit: [(key: String, query: PostgresQuery)] = []

  /// Runs `queries` in one round trip (libpq's pipeline mode): all are sent, then one sync, then
  /// every result is read. Outside a transaction they run as one implicit transaction; the first
  /// error is thrown once everything up to the sync is read (the statements after it were not run).
  /// Returns each statement's rows, in order.
  public func pipeline(_ queries: [PostgresQuery]) async throws -> [PostgresRows] {
    if queries.count == 1 { return [try await query(queries[0])] }
    lastTransactionStatus = PQtransactionStatus(conn)
    for (n, q) in queries.enumerated() {
      for (i, bind) in q.binds.enumerated() where bind.text?.utf8.contains(0) == true {
        throw PostgresError(
          .nulInText, "parameter $\(i + 1) of statement \(n + 1) contains a NUL character, which text cannot hold")
      }
    }
    guard PQenterPipelineMode(conn) == 1 else {
      throw lost()
    }
    enum Sent {
      case prepare(StatementKey, String)
      case statement(Int)
    }
    var sent: [Sent] = []
    var preparing: [StatementKey: String] = [:]
    unsettled = true
    return try await whileRunning {
      defer { if PQexitPipelineMode(conn) != 1 { unsettled = true } }
      for (n, q) in queries.enumerated() {
        let count = q.binds.count
        var types = q.binds.map { Oid($0.oid) }
        var name: String? = nil
        if count > 0 {
          let key = StatementKey(sql: q.sql, types: types)
          name = prepared[key] ?? preparing[key]
          if name == nil && preparesStatements && prepared.count + preparing.count < Self.maxPreparedStatements {
            preparedCount += 1
            let newName = "tuoyu_s\(preparedCount)"
            try submitted(PQsendPrepare(conn, newName, q.sql, Int32(count), &types))
            sent.append(.prepare(key, newName))
            preparing[key] = newName
            name = newName
          }
        }
        try withParameterValues(q.binds) { values in
          if let name {
            try submitted(PQsendQueryPrepared(conn, name, Int32(count), values, nil, nil, q.resultFormat))
          } else {
            try submitted(PQsendQueryParams(conn, q.sql, Int32(count), &types, values, nil, nil, q.resultFormat))
          }
        }
        sent.append(.statement(n))
      }
      try submitted(PQpipelineSync(conn))
      try await flush()
      var rows = [PostgresRows](repeating: .empty, count: queries.count)
      var firstError: (any Error)?
      for command in sent {
        // Each command's results, then a NULL.
        while let result = try await nextResult() {
          if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
            PQclear(result)
            continue
          }
          do {
            let r = try check(result)
            switch command {
            case .prepare(let key, let name): prepared[key] = name
            case .statement(let n): rows[n] = r
            }
          } catch {
            if firstError == nil { firstError = error }
          }
        }
      }
      // The sync point.
      guard let sync = try await nextResult() else { throw lost() }
      let status = PQresultStatus(sync)
      PQclear(sync)
      guard status == PGRES_PIPELINE_SYNC else { throw lost() }
      unsettled = false
      if let firstError { throw firstError }
      return rows
    }
  }

  /// The next result of the statement being read, waiting for the socket as needed; nil at its end.
  private func nextResult() async throws -> OpaquePointer? {
    while PQisBusy(conn) != 0 {
      await reactor.wait(fd: PQsocket(conn), writable: false)
      if PQconsumeInput(conn) == 0 { throw lost() }
    }
    return PQgetResult(conn)
  }

  private func flush() async throws {
    while true {
      let flushed = PQflush(conn)
      if flushed == 0 { return }
      if flushed < 0 { throw lost() }
      await reactor.wait(fd: PQsocket(conn), writable: true)
      if PQconsumeInput(conn) == 0 { throw lost() }
    }
  }

  /// The binds as C strings (NULL for SQL NULL), refusing text with a NUL (which libpq would
  /// silently cut there).
  private func withParameterValues<T>(
    _ binds: [PostgresBind], _ body: (UnsafePointer<UnsafePointer<CChar>?>) throws -> T
  ) throws -> T {
    var values = [UnsafePointer<CChar>?](repeating: nil, count: binds.count)
    var owned: [UnsafeMutablePointer<CChar>] = []
    owned.reserveCapacity(binds.count)
    defer { for p in owned { free(p) } }
    for (i, bind) in binds.enumerated() {
      guard let text = bind.text else { continue }
      if text.utf8.contains(0) {
        throw PostgresError(.nulInText, "parameter $\(i + 1) contains a NUL character, which text cannot hold")
      }
      if let copy = strdup(text) {
        owned.append(copy)
        values[i] = UnsafePointer(copy)
      }
    }
    return try values.withUnsafeBufferPointer { try body($0.baseAddress!) }
  }

  private func submitted(_ status: Int32) throws {
    guard status == 1 else {
      throw lost()
    }
  }

  /// Sends what libpq has buffered, then reads every result of the statement sent, parking on the
  /// reactor whenever the socket has nothing yet.
  private func results() async throws -> PostgresRows {
    try await flush()
    var last: PostgresRows?
    var firstError: (any Error)?
    while let result = try await nextResult() {
      do {
        last = try check(result)
      } catch {
        if firstError == nil { firstError = error }
      }
      if PQstatus(conn) == CONNECTION_BAD { break }
    }
    if let firstError { throw firstError }
    return last ?? PostgresRows.empty
  }

  private func lost() -> PostgresError {
    PostgresError(PQstatus(conn) != CONNECTION_OK ? .connectionLost : .other, Self.errorMessage(conn))
  }

  /// Turns a result into rows (which own it) or a thrown error (freeing it).
  private func check(_ result: OpaquePointer?) throws -> PostgresRows {
    guard let result else {
      throw lost()
    }
    let status = PQresultStatus(result)
    switch status {
    case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
      return PostgresRows(PostgresResult(result))
    default:
      defer { PQclear(result) }
      let field = { (code: UInt8) -> String? in
        PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
      }
      let state = field(UInt8(ascii: "C"))
      var kind = state.map(PostgresError.kind(forSQLState:)) ?? .other
      if PQstatus(conn) != CONNECTION_OK { kind = .connectionLost }
      throw PostgresError(
        kind, field(UInt8(ascii: "M")) ?? Self.errorMessage(conn), sqlState: state,
        constraint: field(UInt8(ascii: "n")))
    }
  }

  private static func errorMessage(_ conn: OpaquePointer?) -> String {
    guard let conn, let message = PQerrorMessage(conn) else { return "no connection" }
    return String(cString: message).trimmingTrailingWhitespace()
  }
}

extension String {
  func trimmingTrailingWhitespace() -> String {
    var s = Substring(self)
    while let last = s.last, last.isWhitespace { s = s.dropLast() }
    return String(s)
  }
}

#if canImport(Glibc)
  import Glibc
#endif
