import CLibPQ
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
  import Glibc
#endif

/// `LISTEN`s on one channel over a connection of its own, on a thread of its own (libpq waits
/// block), and wakes every task waiting in `wait(timeout:)` when a notification arrives. When the
/// connection is lost it reconnects (every second) and wakes the waiters once it is back, since
/// notifications sent meanwhile are gone: a waiter must re-read what it follows after any wake-up,
/// and keep a fallback timeout — a notification says "look now", never "this is what changed".
public final class PostgresListener: Sendable {
  public let channel: String
  private let conninfo: String
  private let state = NIOLockedValueBox(State())

  private struct State {
    var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    var nextID: UInt64 = 0
    var stopped = false
    var notifications = 0
    var listening = false
    /// Counts wake-ups, so a waiter that read before a wake-up does not sleep through it.
    var generation = 0
  }

  /// Starts listening on `channel` (an identifier, quoted as given).
  public init(conninfo: String, channel: String) {
    self.conninfo = conninfo
    self.channel = channel
    let thread = Thread { [self] in run() }
    thread.name = "tuoyu-listen-\(channel)"
    thread.start()
  }

  /// Notifications received so far (for tests and metrics).
  public var received: Int { state.withLockedValue { $0.notifications } }

  /// Whether the LISTEN is in place now.
  public var isListening: Bool { state.withLockedValue { $0.listening } }

  /// Stops the thread (within about half a second) and wakes every waiter.
  public func stop() {
    let waiters = state.withLockedValue { s in
      s.stopped = true
      defer { s.waiters = [:] }
      return Array(s.waiters.values)
    }
    for w in waiters { w.resume() }
  }

  /// The current wake-up generation: read it before looking, pass it to `wait(after:timeout:)`.
  public var generation: Int { state.withLockedValue { $0.generation } }

  /// Returns when a wake-up came after `generation` (at once if one already has), after
  /// `timeout`, or when the task is cancelled. Once stopped, it just waits out the timeout.
  public func wait(after generation: Int, timeout: Duration) async {
    if stopped {
      try? await Task.sleep(for: timeout)
      return
    }
    await withTaskGroup(of: Void.self) { group in
      group.addTask { await self.next(after: generation) }
      group.addTask { try? await Task.sleep(for: timeout) }
      await group.next()
      group.cancelAll()
    }
  }

  private func next(after generation: Int) async {
    let id = state.withLockedValue { s -> UInt64 in
      s.nextID += 1
      return s.nextID
    }
    await withTaskCancellationHandler {
      await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
        let resumeNow = state.withLockedValue { s -> Bool in
          if s.stopped || Task.isCancelled || s.generation != generation { return true }
          s.waiters[id] = c
          return false
        }
        if resumeNow { c.resume() }
      }
    } onCancel: {
      state.withLockedValue { $0.waiters.removeValue(forKey: id) }?.resume()
    }
  }

  private func wakeAll(counting: Bool) {
    let waiters = state.withLockedValue { s in
      if counting { s.notifications += 1 }
      s.generation += 1
      defer { s.waiters = [:] }
      return Array(s.waiters.values)
    }
    for w in waiters { w.resume() }
  }

  private var stopped: Bool { state.withLockedValue { $0.stopped } }

  /// The listening thread: connect, LISTEN, then wait on the socket for notifications.
  private func run() {
    while !stopped {
      // A failed attempt still holds a handle (and often a socket): finish it every time.
      guard let conn = PQconnectdb(conninfo) else {
        sleepUnlessStopped(seconds: 1)
        continue
      }
      guard PQstatus(conn) == CONNECTION_OK else {
        PQfinish(conn)
        sleepUnlessStopped(seconds: 1)
        continue
      }
      defer { PQfinish(conn) }
      let quoted = "\"" + channel.replacingOccurrences(of: "\"", with: "\"\"") + "\""
      let result = PQexec(conn, "LISTEN \(quoted)")
      let ok = PQresultStatus(result) == PGRES_COMMAND_OK
      PQclear(result)
      guard ok else {
        sleepUnlessStopped(seconds: 1)
        continue
      }
      state.withLockedValue { $0.listening = true }
      // Anything sent while we were not listening is lost: tell the waiters to look.
      wakeAll(counting: false)
      while !stopped {
        var fds = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        let n = poll(&fds, 1, 500)
        if n < 0 && errno != EINTR { break }
        if n == 0 { continue }
        guard PQconsumeInput(conn) == 1 else { break }
        var any = false
        while let note = PQnotifies(conn) {
          any = true
          PQfreemem(note)
        }
        if any { wakeAll(counting: true) }
        if PQstatus(conn) != CONNECTION_OK { break }
      }
      state.withLockedValue { $0.listening = false }
    }
  }

  private func sleepUnlessStopped(seconds: Int) {
    for _ in 0..<(seconds * 10) where !stopped { usleep(100_000) }
  }
}
