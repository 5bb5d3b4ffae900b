import API
import Foundation
import Postgres
import RPC
import ServiceKit
import ServiceKitTesting
import Testing

extension TestDB {
  /// A service schema with the `effects` table the consumer tests derive their effects into.
  static func schema(_ prefix: String) async throws -> (String, PostgresPool) {
    let (name, pool) = try await serviceSchema(prefix)
    try await pool.query("CREATE TABLE effects (cursor bigint NOT NULL, subject text NOT NULL)")
    return (name, pool)
  }
}

struct Crash: Error {}

@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"))
struct ChangeFeedTests {
  @Test func eventsCommittedOutOfOrderAreHeldBackUntilTheGapCloses() async throws {
    let (_, pool) = try await TestDB.schema("feed")
    let feed = ChangeFeedService(source: "test", pool: pool)
    let gate = AsyncGate()
    // Transaction A takes cursor 1 and stays open; B takes cursor 2 and commits.
    let a = Task {
      try await pool.withTransaction { tx in
        try await Outbox.append(tx, eventType: "t", subject: "a")
        await gate.wait()
      }
    }
    try await Task.sleep(for: .milliseconds(200))
    _ = try await pool.withTransaction { tx in try await Outbox.append(tx, eventType: "t", subject: "b") }
    #expect(try await feed.events(after: 0).isEmpty)  // 2 must not overtake 1
    await gate.open()
    try await a.value
    // Both now, in cursor order — once no older transaction anywhere in the database is still
    // open (tests running in parallel may hold one for a moment: the guard is database-wide).
    var seen: [String] = []
    for _ in 0..<100 {
      seen = try await feed.events(after: 0).map(\.subject)
      if seen.count >= 2 { break }
      try await Task.sleep(for: .milliseconds(50))
    }
    #expect(seen == ["a", "b"])
    await pool.close()
  }

  /// A transaction with the older xid can insert its row after a younger one did and commit
  /// first: following cursors would pass the younger's row (smaller cursor, committed later)
  /// for good. Positions are given in (xid, cursor) order once final, so neither is lost.
  @Test func anEventWhoseTransactionCommitsLaterIsNotPassedOver() async throws {
    let (_, pool) = try await TestDB.schema("feed")
    let feed = ChangeFeedService(source: "test", pool: pool)
    let xidTaken = AsyncGate(), lateInserted = AsyncGate(), release = AsyncGate()
    let early = Task {
      try await pool.withTransaction { tx in
        try await tx.query("INSERT INTO effects (cursor, subject) VALUES (0, 'takes the older xid')")
        await xidTaken.open()
        await lateInserted.wait()
        try await Outbox.append(tx, eventType: "t", subject: "early")  // cursor 2, older xid
      }
    }
    let late = Task {
      await xidTaken.wait()
      try await pool.withTransaction { tx in
        try await Outbox.append(tx, eventType: "t", subject: "late")  // cursor 1, younger xid
        await lateInserted.open()
        await release.wait()
      }
    }
    try await early.value
    var first: [Tuoyu_Feed_V1_Event] = []
    for _ in 0..<100 where first.isEmpty {  // other tests' transactions may hold it back a moment
      first = try await feed.events(after: 0)
      if first.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
    }
    #expect(first.map(\.subject) == ["early"])
    await release.open()
    try await late.value
    var rest: [Tuoyu_Feed_V1_Event] = []
    for _ in 0..<100 where rest.isEmpty {
      rest = try await feed.events(after: first.last?.cursor ?? 0)
      if rest.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
    }
    #expect(rest.map(\.subject) == ["late"])
    await pool.close()
  }

  @Test func eachEventTakesEffectExactlyOnceAcrossCrashes() async throws {
    let (_, producer) = try await TestDB.schema("prod")
    let (_, consumerPool) = try await TestDB.schema("cons")
    for i in 1...10 {
      _ = try await producer.withTransaction { tx in
        try await Outbox.append(tx, eventType: "thing.changed", subject: "things/\(i)")
      }
    }
    let server = try RPCServer(
      configuration: .init(host: "127.0.0.1", port: 0),
      services: [ChangeFeedService(source: "prod", pool: producer, pollInterval: .milliseconds(20))])
    let port = try await server.start()
    let client = try RPCClient(host: "127.0.0.1", port: port)
    let consumer = ChangeFeedConsumer(source: "prod", pool: consumerPool)
    let crashedOnce = CrashFlag()

    func effect(_ e: Tuoyu_Feed_V1_Event, _ tx: PostgresSession) async throws {
      try await tx.query("INSERT INTO effects (cursor, subject) VALUES (\(e.cursor), \(e.subject))")
      // Crash after the effect was written, before it committed: both must roll back.
      if e.cursor == 4, crashedOnce.trip() { throw Crash() }
    }
    func effectsCount() async throws -> Int {
      try await consumerPool.query("SELECT count(*) FROM effects")[0].decode(Int.self, at: 0)
    }

    // Run 1 dies at event 4.
    await #expect(throws: Crash.self) { try await consumer.run(client: client, effect) }
    #expect(try await consumer.storedCursor() == 3)
    // Run 2 is stopped (as by a crash) between events, after 7 took effect.
    let run2 = Task { try await consumer.run(client: client, effect) }
    while try await effectsCount() < 7 { try await Task.sleep(for: .milliseconds(10)) }
    run2.cancel()
    _ = try? await run2.value
    // Redelivery of what was already applied is ignored.
    let seven = try await consumer.storedCursor()
    var old = Tuoyu_Feed_V1_Event()
    old.cursor = 2
    #expect(try await consumer.apply(old, effect) == false)
    // Run 3 finishes the feed.
    let run3 = Task { try await consumer.run(client: client, effect) }
    while try await effectsCount() < 10 { try await Task.sleep(for: .milliseconds(10)) }
    try await Task.sleep(for: .milliseconds(100))
    run3.cancel()
    _ = try? await run3.value

    #expect(seven >= 7)
    let cursors = try await consumerPool.query("SELECT cursor FROM effects ORDER BY cursor").map {
      try $0.decode(Int64.self, at: 0)
    }
    #expect(cursors == Array(1...10))
    #expect(try await consumer.storedCursor() == 10)
    // The consumer's position and lag are metrics: the last cursor applied, and seconds since its
    // event committed at the source (just now, so small but not negative).
    let text = String(decoding: Telemetry.exposition(), as: UTF8.self)
    #expect(text.contains("tuoyu_change_feed_cursor{source=\"prod\"} 10"))
    let lag = text.split(separator: "\n").first { $0.hasPrefix("tuoyu_change_feed_lag_seconds{source=\"prod\"}") }
    let seconds = lag.flatMap { Double($0.split(separator: " ").last ?? "") }
    #expect(seconds.map { (0..<60).contains($0) } == true, "\(lag ?? "no lag sample")")
    await client.close()
    await server.shutdown()
    await producer.close()
    await consumerPool.close()
  }
}

final class CrashFlag: @unchecked Sendable {
  private let lock = NSLock()
  private var tripped = false
  /// True the first time only.
  func trip() -> Bool {
    lock.withLock {
      defer { tripped = true }; return !tripped
    }
  }
}

actor AsyncGate {
  private var isOpen = false
  private var waiters: [CheckedContinuation<Void, Never>] = []
  func wait() async {
    if isOpen { return }
    await withCheckedContinuation { waiters.append($0) }
  }
  func open() {
    isOpen = true
    for w in waiters { w.resume() }
    waiters = []
  }
}

@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"))
struct OutboxNotifyTests {
  @Test func aCommitNotifiesAndARollbackDoesNot() async throws {
    let (schema, pool) = try await TestDB.schema("notify")
    let listener = PostgresListener(conninfo: TestDB.url!, channel: ChangeFeedService.channel(schema: schema))
    defer { listener.stop() }
    for _ in 0..<100 where !listener.isListening { try await Task.sleep(for: .milliseconds(50)) }
    #expect(listener.isListening)
    let before = listener.generation
    struct Abort: Error {}
    _ = try? await pool.withTransaction { tx in
      try await Outbox.append(tx, eventType: "t", subject: "rolled-back")
      throw Abort()
    }
    try await pool.withTransaction { tx in
      try await Outbox.append(tx, eventType: "t", subject: "a")
      try await Outbox.append(tx, eventType: "t", subject: "b")
    }
    await listener.wait(after: before, timeout: .seconds(10))
    try await Task.sleep(for: .milliseconds(300))
    // One commit, one notification (the rollback sent none; two rows in one transaction fold).
    #expect(listener.received == 1)
    await pool.close()
  }

  @Test func watchEventsWakesOnCommitRatherThanAtItsNextPoll() async throws {
    let (schema, pool) = try await TestDB.schema("notify")
    let listener = PostgresListener(conninfo: TestDB.url!, channel: ChangeFeedService.channel(schema: schema))
    defer { listener.stop() }
    for _ in 0..<100 where !listener.isListening { try await Task.sleep(for: .milliseconds(50)) }
    // Polling alone would next look after a minute; the test waits 10 s at most.
    let feed = ChangeFeedService(source: "notify", pool: pool, pollInterval: .seconds(60), listener: listener)
    let server = try RPCServer(configuration: .init(host: "127.0.0.1", port: 0), services: [feed])
    let port = try await server.start()
    let client = try RPCClient(host: "127.0.0.1", port: port)
    let stream = try await Tuoyu_Feed_V1_ChangeFeed.Client(client).watchEvents(
      .with { $0.afterCursor = 0 }, options: CallOptions(timeout: .seconds(10)))
    try await Task.sleep(for: .milliseconds(300))  // the feed has looked once and is waiting
    _ = try await pool.withTransaction { tx in try await Outbox.append(tx, eventType: "t", subject: "woken") }
    let event = try await stream.receive()
    #expect(event?.subject == "woken")
    stream.cancel()
    await client.close()
    await server.shutdown()
    await pool.close()
  }
}
