import CLibPQ
import NIOConcurrencyHelpers

/// One libpq connection. Its calls block, so the pool runs them on its own threads, never on an
/// event loop. Used by one caller at a time (a pool lease); only `cancel()` may be called from
/// another thread while a query runs.
public final class PostgresConnection: @unchecked Sendable {
  private var conn: OpaquePointer?
  private var cancelHandle: OpaquePointer?
  private let cancelLock = NIOLock()
  /// Whether a statement is executing (guarded by `cancelLock`): a cancel is sent only then, so
  /// a late cancel cannot hit the next lease's statement.
  private var running = false
  private let setup: [String]

  /// Connects from a URL (`postgresql://user@host:port/db?sslmode=…`) or a `key=value`
  /// conninfo string; every libpq option is accepted. `setup` statements run after connecting.
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
    if let conn { PQfinish(conn) }
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
    for statement in setup { _ = try execute(statement) }
    cancelLock.withLock {
      if let cancelHandle { PQfreeCancel(cancelHandle) }
      cancelHandle = PQgetCancel(conn)
    }
  }

  /// Whether libpq knows the connection is gone.
  public var isBroken: Bool { conn == nil || PQstatus(conn) != CONNECTION_OK }

  /// Whether the connection was outside any transaction before its last statement (so a
  /// statement that failed on a lost connection may safely run again after a reset).
  var inIdleState: Bool { lastTransactionStatus == PQTRANS_IDLE }
  private var lastTransactionStatus = PQTRANS_IDLE

  /// The server process serving this connection.
  public var backendPID: Int32 { PQbackendPID(conn) }

  /// Reconnects with the same parameters.
  public func reset() throws {
    PQreset(conn)
    guard PQstatus(conn) == CONNECTION_OK else {
      throw PostgresError(.connectFailed, "cannot reconnect to Postgres: \(Self.errorMessage(conn))")
    }
    try afterConnect()
  }

  /// Whether the connection is outside any transaction and not executing (safe to lend out).
  public var isIdle: Bool { conn != nil && PQtransactionStatus(conn) == PQTRANS_IDLE }

  /// Asks the server to cancel the statement running on this connection (thread-safe).
  public func cancel() {
    cancelLock.withLock {
      guard running, let cancelHandle else { return }
      var buffer = [CChar](repeating: 0, count: 256)
      _ = PQcancel(cancelHandle, &buffer, Int32(buffer.count))
    }
  }

  /// Runs a statement without parameters (may hold several statements).
  @discardableResult
  public func execute(_ sql: String) throws -> PostgresRows {
    lastTransactionStatus = PQtransactionStatus(conn)
    return try whileRunning { try check(PQexec(conn, sql)) }
  }

  private func whileRunning<T>(_ body: () throws -> T) rethrows -> T {
    cancelLock.withLock { running = true }
    defer { cancelLock.withLock { running = false } }
    return try body()
  }

  /// Runs a parameterised statement.
  public func query(_ query: PostgresQuery) throws -> PostgresRows {
    lastTransactionStatus = PQtransactionStatus(conn)
    let count = query.binds.count
    if count == 0 {
      return try whileRunning { try check(PQexecParams(conn, query.sql, 0, nil, nil, nil, nil, 0)) }
    }
    var types = query.binds.map { Oid($0.oid) }
    var values = [UnsafePointer<CChar>?](repeating: nil, count: count)
    var owned: [UnsafeMutablePointer<CChar>] = []
    owned.reserveCapacity(count)
    defer { for p in owned { free(p) } }
    for (i, bind) in query.binds.enumerated() {
      guard let text = bind.text else { continue }
      if text.utf8.contains(0) {
        throw PostgresError(.nulInText, "parameter $\(i + 1) contains a NUL character, which text cannot hold")
      }
      if let copy = strdup(text) {
        owned.append(copy)
        values[i] = UnsafePointer(copy)
      }
    }
    let key = StatementKey(sql: query.sql, types: types)
    var name = prepared[key]
    if name == nil && preparesStatements && prepared.count < Self.maxPreparedStatements {
      preparedCount += 1
      let newName = "tuoyu_s\(preparedCount)"
      _ = try whileRunning { try check(PQprepare(conn, newName, query.sql, Int32(count), &types)) }
      prepared[key] = newName
      name = newName
    }
    guard let name else {
      return try whileRunning {
        try check(PQexecParams(conn, query.sql, Int32(count), &types, &values, nil, nil, 0))
      }
    }
    do {
      return try whileRunning { try check(PQexecPrepared(conn, name, Int32(count), &values, nil, nil, 0)) }
    } catch let error as PostgresError where error.sqlState == "26000" || error.sqlState == "0A000" {
      // The server no longer has the statement, or its cached plan no longer fits the table it
      // reads (a migration changed it): prepare it again next time.
      prepared[key] = nil
      throw error
    }
  }

  private func check(_ result: OpaquePointer?) throws -> PostgresRows {
    guard let result else {
      throw PostgresError(isBroken ? .connectionLost : .other, Self.errorMessage(conn))
    }
    defer { PQclear(result) }
    let status = PQresultStatus(result)
    switch status {
    case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
      return Self.rows(result)
    default:
      let field = { (code: UInt8) -> String? in
        PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
      }
      let state = field(UInt8(ascii: "C"))
      var kind = state.map(PostgresError.kind(forSQLState:)) ?? .other
      if isBroken { kind = .connectionLost }
      throw PostgresError(
        kind, field(UInt8(ascii: "M")) ?? Self.errorMessage(conn), sqlState: state,
        constraint: field(UInt8(ascii: "n")))
    }
  }

  private static func rows(_ result: OpaquePointer) -> PostgresRows {
    let nfields = Int(PQnfields(result))
    let ntuples = Int(PQntuples(result))
    var columns: [PostgresColumn] = []
    columns.reserveCapacity(nfields)
    for c in 0..<nfields {
      columns.append(
        PostgresColumn(name: String(cString: PQfname(result, Int32(c))), oid: UInt32(PQftype(result, Int32(c)))))
    }
    var values: [[String?]] = []
    values.reserveCapacity(ntuples)
    for r in 0..<ntuples {
      var row: [String?] = []
      row.reserveCapacity(nfields)
      for c in 0..<nfields {
        if PQgetisnull(result, Int32(r), Int32(c)) != 0 {
          row.append(nil)
        } else {
          row.append(String(cString: PQgetvalue(result, Int32(r), Int32(c))))
        }
      }
      values.append(row)
    }
    let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
    return PostgresRows(columns: columns, values: values, affectedRows: affected)
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
