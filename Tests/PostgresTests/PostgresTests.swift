import Foundation
#if canImport(Glibc)
  import Glibc
#endif
import Postgres
import ServiceKitTesting
import Testing

@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"), .serialized)
struct PostgresTests {
  @Test func everyTypeRoundTripsWithNulls() async throws {
    let pool = TestDB.pool()
    let id = UUID()
    let now = Date(timeIntervalSince1970: 1_795_000_000.123456)
    let date = PostgresDate(year: 2025, month: 12, day: 31)
    let rows = try await pool.query(
      """
      SELECT \(Int64.max)::int8, \(Int32.min)::int4, \(true)::bool, \("托育 'quoted' \\ \"x\"")::text,
             \(3.25)::float8, \(now)::timestamptz, \(date)::date, \(id)::uuid,
             \(PostgresBytes([0, 1, 0xfe, 0xff]))::bytea, \(PostgresJSON("{\"a\": [1, 2]}"))::jsonb,
             \([1, 2, 3] as [Int])::int8[], \(["a", "b c", "\"q\"", "", "NULL"])::text[],
             \(Optional<Int>.none)::int8, \(Optional<String>.none)::text, \(Optional<Date>.none)::timestamptz
      """)
    let row = rows[0]
    #expect(try row.decode(Int64.self, at: 0) == .max)
    #expect(try row.decode(Int32.self, at: 1) == .min)
    #expect(try row.decode(Bool.self, at: 2) == true)
    #expect(try row.decode(String.self, at: 3) == "托育 'quoted' \\ \"x\"")
    #expect(try row.decode(Double.self, at: 4) == 3.25)
    #expect(try row.decode(Date.self, at: 5).timeIntervalSince1970 == now.timeIntervalSince1970)
    #expect(try row.decode(PostgresDate.self, at: 6) == date)
    #expect(try row.decode(UUID.self, at: 7) == id)
    #expect(try row.decode(PostgresBytes.self, at: 8).bytes == [0, 1, 0xfe, 0xff])
    #expect(try row.decode(PostgresJSON.self, at: 9).text == "{\"a\": [1, 2]}")
    #expect(try row.decode([Int].self, at: 10) == [1, 2, 3])
    #expect(try row.decode([String].self, at: 11) == ["a", "b c", "\"q\"", "", "NULL"])
    #expect(try row.decode(Int?.self, at: 12) == nil)
    #expect(try row.decode(String?.self, at: 13) == nil)
    #expect(try row.decode(Date?.self, at: 14) == nil)
    let (a, b) = try row.decode((Int64, Int32).self)
    #expect(a == .max && b == .min)
    await pool.close()
  }

  @Test func typeMismatchAndNullAreClearErrors() async throws {
    let pool = TestDB.pool()
    let row = try await pool.query("SELECT 'x'::text AS name, NULL::int8 AS n")[0]
    #expect(throws: PostgresError.self) { try row.decode(Int.self, named: "name") }
    do {
      _ = try row.decode(Int.self, named: "n")
      Issue.record("NULL decoded as Int")
    } catch let e as PostgresError {
      #expect(e.kind == .unexpectedNull)
    }
    do {
      _ = try row.decode(Bool.self, at: 0)
    } catch let e as PostgresError {
      #expect(e.kind == .typeMismatch)
      #expect(e.message.contains("name"))
    }
    await pool.close()
  }

  @Test func sqlInAStringParameterIsStoredLiterally() async throws {
    let pool = TestDB.pool()
    try await pool.query("CREATE TABLE IF NOT EXISTS pg_test_literal (v text)")
    let evil = "x'); DROP TABLE pg_test_literal; --"
    try await pool.query("INSERT INTO pg_test_literal (v) VALUES (\(evil))")
    let rows = try await pool.query("SELECT v FROM pg_test_literal WHERE v = \(evil)")
    #expect(rows.count == 1)
    #expect(try rows[0].decode(String.self, at: 0) == evil)
    try await pool.query("DROP TABLE pg_test_literal")
    await pool.close()
  }

  /// libpq takes parameters as C strings: a NUL would silently cut the value ("330502\0' OR 1=1"
  /// matched 330502). It is refused before anything is sent, and the connection stays usable.
  @Test func nulInATextParameterIsRefusedNotTruncated() async throws {
    let pool = TestDB.pool(max: 1)
    try await pool.query("CREATE TABLE IF NOT EXISTS pg_test_nul (v text)")
    await #expect {
      try await pool.query("INSERT INTO pg_test_nul (v) VALUES (\("330502\u{0}' OR 1=1"))")
    } throws: { ($0 as? PostgresError)?.kind == .nulInText }
    #expect(try await pool.query("SELECT count(*) FROM pg_test_nul")[0].decode(Int.self, at: 0) == 0)
    try await pool.query("DROP TABLE pg_test_nul")
    await pool.close()
  }

  /// A statement with parameters is parsed and planned once per connection, then only executed;
  /// after a reconnect (a new session that knows no statements) it is prepared again.
  @Test func parameterisedStatementsArePreparedOnceAndSurviveAReconnect() async throws {
    let c = try PostgresConnection(conninfo: TestDB.url!)
    for i in 0..<5 { #expect(try await c.query("SELECT \(i)::int + 1")[0].decode(Int.self, at: 0) == i + 1) }
    _ = try await c.query("SELECT \("x")::text")
    #expect(c.preparedStatements == 2)
    #expect(try await c.execute("SELECT count(*) FROM pg_prepared_statements")[0].decode(Int.self, at: 0) == 2)
    let killer = try PostgresConnection(conninfo: TestDB.url!)
    _ = try await killer.query("SELECT pg_terminate_backend(\(c.backendPID))")
    await #expect(throws: PostgresError.self) { try await c.query("SELECT \(1)::int + 1") }
    try c.reset()
    #expect(c.preparedStatements == 0)
    #expect(try await c.query("SELECT \(41)::int + 1")[0].decode(Int.self, at: 0) == 42)
    #expect(try await c.execute("SELECT count(*) FROM pg_prepared_statements")[0].decode(Int.self, at: 0) == 1)
  }

  @Test func constraintViolationsAreTyped() async throws {
    let pool = TestDB.pool()
    try await pool.query("CREATE TABLE IF NOT EXISTS pg_test_unique (k int PRIMARY KEY, n int CHECK (n > 0))")
    try await pool.query("INSERT INTO pg_test_unique VALUES (1, 1)")
    do {
      try await pool.query("INSERT INTO pg_test_unique VALUES (1, 1)")
      Issue.record("duplicate accepted")
    } catch let e as PostgresError {
      #expect(e.kind == .uniqueViolation)
      #expect(e.sqlState == "23505")
      #expect(e.constraint == "pg_test_unique_pkey")
    }
    do {
      try await pool.query("INSERT INTO pg_test_unique VALUES (2, -1)")
      Issue.record("check violation accepted")
    } catch let e as PostgresError {
      #expect(e.kind == .checkViolation)
    }
    try await pool.query("DROP TABLE pg_test_unique")
    await pool.close()
  }

  @Test func aThrowRollsTheTransactionBack() async throws {
    let pool = TestDB.pool()
    try await pool.query("CREATE TABLE IF NOT EXISTS pg_test_tx (v int)")
    struct Boom: Error {}
    await #expect(throws: Boom.self) {
      try await pool.withTransaction { tx in
        try await tx.query("INSERT INTO pg_test_tx VALUES (1)")
        throw Boom()
      }
    }
    #expect(try await pool.query("SELECT count(*) FROM pg_test_tx")[0].decode(Int.self, at: 0) == 0)
    try await pool.withTransaction { tx in try await tx.query("INSERT INTO pg_test_tx VALUES (2)") }
    #expect(try await pool.query("SELECT count(*) FROM pg_test_tx")[0].decode(Int.self, at: 0) == 1)
    try await pool.query("DROP TABLE pg_test_tx")
    await pool.close()
  }

  @Test func serializationFailureIsRetried() async throws {
    let pool = TestDB.pool(max: 4)
    try await pool.query("CREATE TABLE IF NOT EXISTS pg_test_ser (k int PRIMARY KEY, v int)")
    try await pool.query("INSERT INTO pg_test_ser VALUES (1, 0) ON CONFLICT (k) DO UPDATE SET v = 0")
    let attempts = Counter()
    // Two serializable read-modify-write transactions on the same row, interleaved on purpose:
    // one of them fails with 40001 and must be run again.
    try await withThrowingTaskGroup(of: Void.self) { group in
      let gate = Gate(parties: 2)
      for _ in 0..<2 {
        group.addTask {
          try await pool.withTransaction(isolation: .serializable) { tx in
            let n = attempts.increment()
            let v = try await tx.query("SELECT v FROM pg_test_ser WHERE k = 1")[0].decode(Int.self, at: 0)
            if n <= 2 { await gate.arrive() }
            try await tx.query("UPDATE pg_test_ser SET v = \(v + 1) WHERE k = 1")
          }
        }
      }
      try await group.waitForAll()
    }
    #expect(try await pool.query("SELECT v FROM pg_test_ser WHERE k = 1")[0].decode(Int.self, at: 0) == 2)
    #expect(attempts.value >= 3)
    try await pool.query("DROP TABLE pg_test_ser")
    await pool.close()
  }

  @Test func poolExhaustionWaitsThenTimesOut() async throws {
    let pool = TestDB.pool(max: 2, acquireTimeout: .milliseconds(300))
    let held = Gate(parties: 3)
    let release = Gate(parties: 3)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<2 {
        group.addTask {
          try await pool.withConnection { s in
            try await s.query("SELECT 1")
            await held.arrive()
            await release.arrive()
          }
        }
      }
      await held.arrive()
      do {
        try await pool.query("SELECT 1")
        Issue.record("a third lease was granted from a pool of two")
      } catch let e as PostgresError {
        #expect(e.kind == .poolExhausted)
        #expect(e.message.contains("pool of 2"))
      }
      await release.arrive()
      try await group.waitForAll()
    }
    // Once the leases are back, the pool serves again.
    #expect(try await pool.query("SELECT 7")[0].decode(Int.self, at: 0) == 7)
    await pool.close()
  }

  @Test func queryPastItsDeadlineIsCancelledOnTheServer() async throws {
    let pool = TestDB.pool()
    let marker = "tuoyu-cancel-\(UUID().uuidString)"
    let task = Task {
      try await pool.query(PostgresQuery(unsafeSQL: "SELECT pg_sleep(30) /* \(marker) */"))
    }
    try await Task.sleep(for: .milliseconds(300))
    task.cancel()
    do {
      _ = try await task.value
      Issue.record("the sleep was not cancelled")
    } catch let e as PostgresError {
      #expect(e.kind == .queryCanceled)
    }
    let running = try await pool.query(
      "SELECT count(*) FROM pg_stat_activity WHERE query LIKE \("%" + marker + "%") AND state = 'active' AND pid <> pg_backend_pid()"
    )
    #expect(try running[0].decode(Int.self, at: 0) == 0)

    // The server-side statement timeout works too.
    let strict = TestDB.pool(statementTimeout: .milliseconds(100))
    do {
      try await strict.query("SELECT pg_sleep(5)")
      Issue.record("statement_timeout not applied")
    } catch let e as PostgresError {
      #expect(e.kind == .queryCanceled)
    }
    await strict.close()
    await pool.close()
  }

  @Test func aConnectionLeftInATransactionIsNeverLentAgain() async throws {
    let pool = TestDB.pool(max: 1)
    try await pool.query("CREATE TABLE IF NOT EXISTS pg_test_leak (v int)")
    let leakedPID = try await pool.withConnection { s in
      try await s.execute("BEGIN")
      try await s.query("INSERT INTO pg_test_leak VALUES (1)")
      return try await s.query("SELECT pg_backend_pid()")[0].decode(Int32.self, at: 0)
    }
    // The next lease must not run inside the abandoned transaction.
    let (pid, count) = try await pool.withConnection { s in
      try await s.query("SELECT pg_backend_pid(), (SELECT count(*) FROM pg_test_leak)")[0].decode((Int32, Int).self)
    }
    #expect(pid != leakedPID)
    #expect(count == 0)
    try await pool.query("DROP TABLE pg_test_leak")
    await pool.close()
  }

  /// A statement that fails inside a transaction aborts it; the rollback on the way out leaves the
  /// same connection clean, so the next lease (a pool of one: the same backend) starts afresh.
  @Test func aFailedStatementInATransactionLeavesTheConnectionCleanForTheNextLease() async throws {
    let pool = TestDB.pool(max: 1)
    try await pool.query("CREATE TABLE IF NOT EXISTS pg_test_failtx (v int PRIMARY KEY)")
    let pid = try await pool.query("SELECT pg_backend_pid()")[0].decode(Int32.self, at: 0)
    await #expect(throws: PostgresError.self) {
      try await pool.withTransaction { tx in
        try await tx.query("INSERT INTO pg_test_failtx VALUES (1)")
        try await tx.query("SELECT 1 / \(0)")
      }
    }
    let (samePID, count, state) = try await pool.withConnection { s in
      try await s.query(
        "SELECT pg_backend_pid(), (SELECT count(*) FROM pg_test_failtx), (SELECT state FROM pg_stat_activity WHERE pid = pg_backend_pid())"
      )[0].decode((Int32, Int, String).self)
    }
    #expect(samePID == pid)
    #expect(count == 0)
    #expect(state == "active")
    try await pool.withTransaction { tx in try await tx.query("INSERT INTO pg_test_failtx VALUES (2)") }
    #expect(try await pool.query("SELECT count(*) FROM pg_test_failtx")[0].decode(Int.self, at: 0) == 1)
    try await pool.query("DROP TABLE pg_test_failtx")
    await pool.close()
  }

  /// Many tasks parked on the reactor at once over few connections: every answer reaches the task
  /// that asked (each checks its own value), with large parameters and results (several flushes
  /// and reads per statement) mixed in.
  @Test func manyConcurrentStatementsEachGetTheirOwnAnswer() async throws {
    let pool = TestDB.pool(max: 4)
    let big = String(repeating: "托育", count: 400_000)  // 2.4 MB of UTF-8: more than a socket buffer
    try await withThrowingTaskGroup(of: Void.self) { group in
      for t in 0..<64 {
        group.addTask {
          for i in 0..<25 {
            if (t + i) % 10 == 0 {
              let echoed = try await pool.query("SELECT \(big)::text || \(String(t))")[0].decode(String.self, at: 0)
              #expect(echoed.utf8.count == big.utf8.count + String(t).utf8.count)
              #expect(echoed.hasSuffix(String(t)))
            } else {
              let n = t * 1000 + i
              #expect(try await pool.query("SELECT \(n)::bigint * 2")[0].decode(Int.self, at: 0) == n * 2)
            }
          }
        }
      }
      try await group.waitForAll()
    }
    let rows = try await pool.query("SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g")
    #expect(rows.count == 20000)
    #expect(try rows[19999].decode(Int.self, at: 0) == 20000)
    await pool.close()
  }

  /// Several statements in one `execute`: the first error is thrown, and what ran before it in
  /// the same implicit transaction is rolled back.
  @Test func aMultiStatementExecuteThrowsItsFirstError() async throws {
    let pool = TestDB.pool(max: 1)
    try await pool.query("CREATE TABLE IF NOT EXISTS pg_test_multi (v int)")
    do {
      _ = try await pool.withConnection { s in
        try await s.execute("INSERT INTO pg_test_multi VALUES (1); SELECT 1 / 0; INSERT INTO pg_test_multi VALUES (2)")
      }
      Issue.record("a failing statement in the batch was not reported")
    } catch let e as PostgresError {
      #expect(e.sqlState == "22012")
    }
    #expect(try await pool.query("SELECT count(*) FROM pg_test_multi")[0].decode(Int.self, at: 0) == 0)
    #expect(
      try await pool.withConnection { try await $0.execute("SELECT 5; SELECT 6") }[0].decode(Int.self, at: 0) == 6)
    try await pool.query("DROP TABLE pg_test_multi")
    await pool.close()
  }

  /// Integers are read straight from libpq's buffer: the extremes round-trip, and text that is
  /// not an integer or overflows the type is a type error, never a trap.
  @Test func integerTextAtItsExtremes() async throws {
    let pool = TestDB.pool(max: 1)
    let row = try await pool.query(
      "SELECT \(Int64.max)::bigint, \(Int64.min)::bigint, \(Int32.min)::int, '-0'::text, 2147483648::bigint"
    )[0]
    #expect(try row.decode(Int64.self, at: 0) == .max)
    #expect(try row.decode(Int64.self, at: 1) == .min)
    #expect(try row.decode(Int32.self, at: 2) == .min)
    #expect(try row.decode(Int.self, at: 4) == 2_147_483_648)
    // A bigint past Int32 read as Int32: refused by type (int8 is not int4), not truncated.
    #expect(throws: PostgresError.self) { try row.decode(Int32.self, at: 4) }
    #expect(throws: PostgresError.self) { try row.decode(Int.self, at: 3) }
    await pool.close()
  }

  /// Queued statements go with the next query in one pipeline, in order, and each is prepared once.
  @Test func queuedStatementsRunInOrderWithTheNextQuery() async throws {
    let pool = TestDB.pool(max: 1)
    try await pool.query("CREATE TABLE IF NOT EXISTS pg_test_queue (n int PRIMARY KEY, t text)")
    let (count, last) = try await pool.withTransaction { tx in
      for n in 1...20 { tx.queue("INSERT INTO pg_test_queue VALUES (\(n), \("row \(n)"))") }
      return try await tx.query("SELECT count(*), max(t) FILTER (WHERE n = 20) FROM pg_test_queue")[0]
        .decode((Int, String).self)
    }
    #expect(count == 20)
    #expect(last == "row 20")
    // The insert was prepared once (the BEGIN, the SELECT and the COMMIT have no parameters).
    try await pool.withConnection { s in
      #expect(s.connection.preparedStatements == 1)
      // What is queued at the end of a lease is sent before the connection goes back.
      s.queue("INSERT INTO pg_test_queue VALUES (\(21), \("late"))")
    }
    #expect(try await pool.query("SELECT count(*) FROM pg_test_queue")[0].decode(Int.self, at: 0) == 21)
    try await pool.query("DROP TABLE pg_test_queue")
    await pool.close()
  }

  /// An error in a queued statement is thrown by the query it went with; the transaction rolls
  /// back all of it, and the statements after the failing one never ran.
  @Test func anErrorInAQueuedStatementRollsTheTransactionBack() async throws {
    let pool = TestDB.pool(max: 1)
    try await pool.query("CREATE TABLE IF NOT EXISTS pg_test_qerr (n int PRIMARY KEY)")
    let reached = Counter()
    do {
      try await pool.withTransaction(maxAttempts: 1) { tx in
        tx.queue("INSERT INTO pg_test_qerr VALUES (\(1))")
        tx.queue("INSERT INTO pg_test_qerr VALUES (\(1))")  // duplicate key
        tx.queue("INSERT INTO pg_test_qerr VALUES (\(2))")
        _ = try await tx.query("SELECT count(*) FROM pg_test_qerr")
        _ = reached.increment()
      }
      Issue.record("the duplicate key was not reported")
    } catch let e as PostgresError {
      #expect(e.kind == .uniqueViolation)
    }
    #expect(reached.value == 0)
    #expect(try await pool.query("SELECT count(*) FROM pg_test_qerr")[0].decode(Int.self, at: 0) == 0)
    // Outside a transaction a pipeline is one implicit transaction: all or nothing.
    await #expect(throws: PostgresError.self) {
      try await pool.withConnection { s in
        _ = try await s.connection.pipeline([
          "INSERT INTO pg_test_qerr VALUES (\(5))", "INSERT INTO pg_test_qerr VALUES (\(5))",
        ])
      }
    }
    #expect(try await pool.query("SELECT count(*) FROM pg_test_qerr")[0].decode(Int.self, at: 0) == 0)
    // And the connection is clean for the next lease.
    #expect(try await pool.query("SELECT \(3)::int")[0].decode(Int.self, at: 0) == 3)
    try await pool.query("DROP TABLE pg_test_qerr")
    await pool.close()
  }

  /// A pipeline sent on a connection whose backend was killed meanwhile is sent again, once, on a
  /// new connection (outside a transaction nothing had run).
  @Test func aPipelineOnAKilledBackendRunsOnceAfterTheReconnect() async throws {
    let pool = TestDB.pool(max: 1)
    try await pool.query("CREATE TABLE IF NOT EXISTS pg_test_qkill (n int PRIMARY KEY)")
    let pid = try await pool.query("SELECT pg_backend_pid()")[0].decode(Int32.self, at: 0)
    let killer = TestDB.pool(max: 1)
    try await killer.query("SELECT pg_terminate_backend(\(pid))")
    await killer.close()
    let seen = try await pool.withConnection { s in
      s.queue("INSERT INTO pg_test_qkill VALUES (\(1))")
      s.queue("INSERT INTO pg_test_qkill VALUES (\(2))")
      return try await s.query("SELECT count(*) FROM pg_test_qkill")[0].decode(Int.self, at: 0)
    }
    #expect(seen == 2)
    #expect(try await pool.query("SELECT count(*) FROM pg_test_qkill")[0].decode(Int.self, at: 0) == 2)
    try await pool.query("DROP TABLE pg_test_qkill")
    await pool.close()
  }

  /// Results asked for in binary: bytea arrives as its bytes, the integers, bools and text decode,
  /// NULL stays NULL, and a type without a binary reader is a clear error.
  @Test func binaryResultsDecodeAndRefuseWhatTheyCannotRead() async throws {
    let pool = TestDB.pool(max: 1)
    let bytes: [UInt8] = [0, 1, 2, 0xFF, 0x5C, 0x78]
    let query: PostgresQuery = """
      SELECT \(PostgresBytes(bytes))::bytea, \("托育 ✓")::text, \(Int64.min)::bigint, \(Int32.max)::int,
        (-7)::smallint, true, NULL::bytea, 'x'::varchar
      """
    let row = try await pool.withConnection { try await $0.query(binary: query) }[0]
    #expect(try row.decode(PostgresBytes.self, at: 0).bytes == bytes)
    #expect(try row.decode(String.self, at: 1) == "托育 ✓")
    #expect(try row.decode(Int64.self, at: 2) == .min)
    #expect(try row.decode(Int32.self, at: 3) == .max)
    #expect(try row.decode(Int.self, at: 4) == -7)
    #expect(try row.decode(Bool.self, at: 5) == true)
    #expect(try row.decode(PostgresBytes?.self, at: 6) == nil)
    #expect(try row.decode(String.self, at: 7) == "x")
    let dated = try await pool.withConnection { try await $0.query(binary: "SELECT current_date") }[0]
    #expect(throws: PostgresError.self) { try dated.decode(PostgresDate.self, at: 0) }
    await pool.close()
  }

  @Test func killedBackendIsReplaced() async throws {
    let pool = TestDB.pool(max: 1)
    let pid = try await pool.query("SELECT pg_backend_pid()")[0].decode(Int32.self, at: 0)
    let killer = TestDB.pool(max: 1)
    try await killer.query("SELECT pg_terminate_backend(\(pid))")
    await killer.close()
    let newPID = try await pool.query("SELECT pg_backend_pid()")[0].decode(Int32.self, at: 0)
    #expect(newPID != pid)
    await pool.close()
  }

  /// On a cluster of its own: restarting the shared one would break the suites running beside it.
  @Test func poolRecoversAfterServerRestart() async throws {
    let dir = TestDB.root.appendingPathComponent(".run/test-pg-restart-\(UUID().uuidString.prefix(8))").path
    let url = try TestDB.pg("start", dir)
    defer {
      _ = try? TestDB.pg("stop", dir)
      try? FileManager.default.removeItem(atPath: dir)
    }
    let pool = PostgresPool(configuration: .init(url: url, maxConnections: 2))
    #expect(try await pool.query("SELECT 1")[0].decode(Int.self, at: 0) == 1)
    try TestDB.pg("restart", dir)
    #expect(try await pool.query("SELECT 2")[0].decode(Int.self, at: 0) == 2)
    let three = try await pool.withTransaction { tx in
      try await tx.query("SELECT 3")[0].decode(Int.self, at: 0)
    }
    #expect(three == 3)
    await pool.close()
  }
}

/// A thread-safe counter.
final class Counter: @unchecked Sendable {
  private let lock = NSLock()
  private var n = 0
  func increment() -> Int {
    lock.withLock {
      n += 1; return n
    }
  }
  var value: Int { lock.withLock { n } }
}

/// Waits until `parties` tasks have arrived.
actor Gate {
  let parties: Int
  var arrived = 0
  var waiting: [CheckedContinuation<Void, Never>] = []
  init(parties: Int) { self.parties = parties }
  func arrive() async {
    arrived += 1
    if arrived >= parties {
      for w in waiting { w.resume() }
      waiting = []
      return
    }
    await withCheckedContinuation { waiting.append($0) }
  }
}
