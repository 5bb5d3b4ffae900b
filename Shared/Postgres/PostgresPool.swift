import Dispatch
import NIOConcurrencyHelpers
import NIOPosix

/// A bounded pool of libpq connections. Leases are handed out by `withConnection` and
/// `withTransaction`. Statements run non-blocking from the calling task; only connecting and
/// reconnecting (which block in libpq) run on the pool's own few threads.
public final class PostgresPool: Sendable {
  public struct Configuration: Sendable {
    /// A libpq URL or conninfo string (every libpq option, `sslmode` included).
    public var url: String
    public var maxConnections: Int
    /// How long a caller waits for a free connection before `poolExhausted`.
    public var acquireTimeout: Duration
    /// The server-side `statement_timeout` of every connection; nil leaves the server's.
    public var statementTimeout: Duration?
    /// Statements run on every new connection (e.g. `SET search_path = registry`).
    public var setup: [String]

    public init(
      url: String, maxConnections: Int = 10, acquireTimeout: Duration = .seconds(5),
      statementTimeout: Duration? = nil, setup: [String] = []
    ) {
      self.url = url
      self.maxConnections = maxConnections
      self.acquireTimeout = acquireTimeout
      self.statementTimeout = statementTimeout
      self.setup = setup
    }
  }

  private struct Waiter {
    let id: UInt64
    let deadline: UInt64
    let continuation: CheckedContinuation<PostgresConnection?, any Error>
  }

  private struct State {
    var idle: [PostgresConnection] = []
    var open = 0
    var waiters: [Waiter] = []
    var nextWaiterID: UInt64 = 0
    var closed = false
    /// Whether a sweeper task times waiters out (one per pool while anyone waits, not a timer per
    /// waiter: under load thousands wait each second).
    var sweeping = false
  }

  public let configuration: Configuration
  private let state = NIOLockedValueBox(State())
  let threads: NIOThreadPool

  public init(configuration: Configuration) {
    self.configuration = configuration
    self.threads = NIOThreadPool(numberOfThreads: max(1, min(4, configuration.maxConnections)))
    threads.start()
  }

  /// Closes idle connections and refuses new leases.
  public func close() async {
    // Idle connections are dropped here (PQfinish in their deinit); leased ones when returned.
    let waiters = state.withLockedValue { state in
      state.closed = true
      defer {
        state.idle = []
        state.waiters = []
      }
      return state.waiters
    }
    for w in waiters { w.continuation.resume(throwing: PostgresError(.poolClosed, "the pool is closed")) }
    try? await threads.shutdownGracefully()
  }

  /// Leases a connection for `body`.
  public func withConnection<T>(_ body: (PostgresSession) async throws -> T) async throws -> T {
    let connection = try await acquire()
    let session = PostgresSession(connection: connection, pool: self)
    do {
      let result = try await body(session)
      session.queueCommitStatements()
      try await session.flush()
      release(connection)
      return result
    } catch {
      connection.queued = []
      connection.atCommit = []
      release(connection)
      throw error
    }
  }

  /// Runs `body` in a transaction: committed when it returns, rolled back when it throws, and run
  /// again (up to `maxAttempts`) after a serialization failure or deadlock.
  public func withTransaction<T>(
    isolation: IsolationLevel = .readCommitted, maxAttempts: Int = 5,
    _ body: (PostgresSession) async throws -> T
  ) async throws -> T {
    var attempt = 0
    while true {
      attempt += 1
      do {
        return try await withConnection { session in
          // Sent with the body's first statement, in one round trip.
          session.queue(PostgresQuery(unsafeSQL: "BEGIN ISOLATION LEVEL \(isolation.rawValue)"))
          do {
            let result = try await body(session)
            // Sent with what the body queued (the end-of-transaction statements last), in one
            // round trip.
            session.queueCommitStatements()
            try await session.query("COMMIT")
            return result
          } catch {
            await session.rollback()
            throw error
          }
        }
      } catch let error as PostgresError where error.isRetryable && attempt < maxAttempts {
        try await Task.sleep(for: .milliseconds(Int.random(in: 1...10) * attempt))
      }
    }
  }

  /// Runs one statement on a leased connection.
  @discardableResult
  public func query(_ query: PostgresQuery) async throws -> PostgresRows {
    try await withConnection { try await $0.query(query) }
  }

  // MARK: Leasing

  func acquire() async throws -> PostgresConnection {
    enum Next { case use(PostgresConnection), open, wait(UInt64) }
    let next: Next = try state.withLockedValue { state in
      if state.closed { throw PostgresError(.poolClosed, "the pool is closed") }
      if let c = state.idle.popLast() { return .use(c) }
      if state.open < configuration.maxConnections {
        state.open += 1
        return .open
      }
      state.nextWaiterID += 1
      return .wait(state.nextWaiterID)
    }
    switch next {
    case .use(let c):
      return c
    case .open:
      return try await openConnection()
    case .wait(let id):
      let deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, configuration.acquireTimeout.nanoseconds))
      let handed: PostgresConnection? = try await withCheckedThrowingContinuation { c in
        let (registered, startSweeper) = state.withLockedValue { state -> (Bool, Bool) in
          if state.closed { return (false, false) }
          state.waiters.append(Waiter(id: id, deadline: deadline, continuation: c))
          defer { state.sweeping = true }
          return (true, !state.sweeping)
        }
        guard registered else {
          return c.resume(throwing: PostgresError(.poolClosed, "the pool is closed"))
        }
        if startSweeper { sweepWaiters() }
      }
      // nil: a connection was closed and its slot handed to us, so open a new one.
      if let handed { return handed }
      return try await openConnection()
    }
  }

  /// Times out waiters past their deadline, every 50 ms while any wait.
  private func sweepWaiters() {
    let timeout = configuration.acquireTimeout
    let max = configuration.maxConnections
    Task.detached { [state] in
      while true {
        try? await Task.sleep(for: .milliseconds(50))
        let now = DispatchTime.now().uptimeNanoseconds
        let (expired, done) = state.withLockedValue { state -> ([Waiter], Bool) in
          let expired = state.waiters.filter { $0.deadline <= now }
          if !expired.isEmpty { state.waiters.removeAll { $0.deadline <= now } }
          if state.waiters.isEmpty { state.sweeping = false }
          return (expired, !state.sweeping)
        }
        for waiter in expired {
          waiter.continuation.resume(
            throwing: PostgresError(
              .poolExhausted, "no database connection free within \(timeout) (pool of \(max)); try again later"))
        }
        if done { return }
      }
    }
  }

  private func openConnection() async throws -> PostgresConnection {
    var setup = configuration.setup
    if let t = configuration.statementTimeout {
      setup.insert("SET statement_timeout = \(t.milliseconds)", at: 0)
    }
    let url = configuration.url
    let statements = setup
    do {
      return try await threads.runIfActive { try PostgresConnection(conninfo: url, setup: statements) }
    } catch {
      releaseSlot()
      throw error
    }
  }

  func release(_ connection: PostgresConnection) {
    // A connection still inside a transaction (a rollback that could not run) or gone is never
    // lent again: the next lease would run inside someone else's transaction.
    if connection.isBroken || !connection.isIdle {
      releaseSlot()
      return
    }
    let waiter = state.withLockedValue { state -> Waiter? in
      if state.closed { return nil }
      if !state.waiters.isEmpty { return state.waiters.removeFirst() }
      state.idle.append(connection)
      return nil
    }
    waiter?.continuation.resume(returning: connection)
  }

  /// A connection is gone: its slot goes to the first waiter (who opens a new one) or is freed.
  private func releaseSlot() {
    let waiter = state.withLockedValue { state -> Waiter? in
      if !state.waiters.isEmpty { return state.waiters.removeFirst() }
      state.open -= 1
      return nil
    }
    waiter?.continuation.resume(returning: nil)
  }

  /// Connections open now (idle or leased).
  public var openConnections: Int { state.withLockedValue { $0.open } }

  /// Connections open (idle or leased), idle, and callers waiting for one — for metrics.
  public var statistics: (open: Int, idle: Int, waiting: Int) {
    state.withLockedValue { ($0.open, $0.idle.count, $0.waiters.count) }
  }
}

/// Transaction isolation levels.
public enum IsolationLevel: String, Sendable {
  case readCommitted = "READ COMMITTED"
  case repeatableRead = "REPEATABLE READ"
  case serializable = "SERIALIZABLE"
}

extension Duration {
  var nanoseconds: Int64 {
    let (s, a) = components
    return s * 1_000_000_000 + a / 1_000_000_000
  }
  var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
