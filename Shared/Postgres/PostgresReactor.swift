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
      lock.withLock { parked[fd] = c }
      if tuoyu_epoll_arm(epfd, fd, writable ? 1 : 0) != 0 {
        let waiting = lock.withLock { parked.removeValue(forKey: fd) }
        waiting?.resume()
      }
    }
  }

  /// Forgets `fd` before libpq closes it (a reset or a closed connection), so that a later socket
  /// with the same number starts clean.
  func forget(fd: Int32) {
    guard fd >= 0 else { return }
    tuoyu_epoll_remove(epfd, fd)
  }

  private func run() {
    var ready = [Int32](repeating: 0, count: 64)
    while true {
      let n = ready.withUnsafeMutableBufferPointer { tuoyu_epoll_wait(epfd, $0.baseAddress, 64, -1) }
      if n < 0 { continue }  // EINTR
      for i in 0..<Int(n) {
        let fd = ready[i]
        // Disarmed by EPOLLONESHOT already; removed so that a closed and reused descriptor
        // number is added afresh.
        tuoyu_epoll_remove(epfd, fd)
        let waiting = lock.withLock { parked.removeValue(forKey: fd) }
        waiting?.resume()
      }
    }
  }
}
