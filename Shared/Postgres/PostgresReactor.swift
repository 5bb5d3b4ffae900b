import CLibPQ
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
  import Glibc
#endif

/// Waits for libpq's sockets to become readable or writable, so that statements run non-blocking
/// from the calling task: the task sends, parks here, and is resumed when the answer is on the
/// socket. One thread waits (epoll) for every connection of the process; it never runs libpq
/// itself, it only resumes the parked task.
final class PostgresReactor: @unchecked Sendable {
  static let shared = PostgresReactor()

  private let epfd: Int32
  private let lock = NIOLock()
  /// The task parked on each descriptor (at most one: a connection is used by one lease at a time).
  private var parked: [Int32: CheckedContinuation<Void, Never>] = [:]
  /// The descriptors in the epoll set (armed one-shot, or disarmed after their event).
  private var registered: Set<Int32> = []

  private init() {
    epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
    precondition(epfd >= 0, "epoll_create1 failed: errno \(errno)")
    let thread = Thread { [self] in run() }
    thread.name = "tuoyu-postgres-reactor"
    thread.start()
  }

  /// Returns when `fd` is readable (or writable when `writable`), or at once when the descriptor
  /// cannot be watched (the caller then finds the error on its next libpq call).
  func wait(fd: Int32, writable: Bool) async {
    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
      let added = lock.withLock { () -> Bool in
        parked[fd] = c
        return registered.contains(fd)
      }
      // Re-armed (one syscall) once the descriptor is in the set; added the first time.
      if tuoyu_epoll_arm(epfd, fd, writable ? 1 : 0, added ? 1 : 0) == 0 {
        if !added { lock.withLock { _ = registered.insert(fd) } }
      } else {
        let waiting = lock.withLock { parked.removeValue(forKey: fd) }
        waiting?.resume()
      }
    }
  }

  /// Forgets `fd` before libpq closes it (a reset or a closed connection), so that a later socket
  /// with the same number starts clean.
  func forget(fd: Int32) {
    guard fd >= 0 else { return }
    lock.withLock { _ = registered.remove(fd) }
    tuoyu_epoll_remove(epfd, fd)
  }

  private func run() {
    var ready = [Int32](repeating: 0, count: 64)
    while true {
      let n = ready.withUnsafeMutableBufferPointer { tuoyu_epoll_wait(epfd, $0.baseAddress, 64, -1) }
      if n < 0 { continue }  // EINTR
      for i in 0..<Int(n) {
        let fd = ready[i]
        // Disarmed by EPOLLONESHOT; the next wait re-arms it.
        let waiting = lock.withLock { parked.removeValue(forKey: fd) }
        waiting?.resume()
      }
    }
  }
}
