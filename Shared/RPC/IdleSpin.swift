import CSched
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Keeps an event loop's CPU from halting for a short window after the loop's last read.
///
/// A server's event loop blocks in `epoll_wait` as soon as it has written a response. On a
/// virtual machine without guest halt polling the idle vCPU then halts, and the next request has
/// to wait for the hypervisor to wake it — at one call in flight that wait was a quarter of every
/// call (bench/README.md). Each event loop gets one spinner thread, pinned to the CPU the loop
/// last read on, at `SCHED_IDLE`: it runs only when nothing else on that CPU wants to (the loop's
/// wake-up preempts it at once), and it parks `window` after the loop's last read, so an idle
/// server spends no CPU. When the scheduler hands it the CPU while the loop is runnable (even
/// SCHED_IDLE has a weight), it parks at once rather than keep the loop waiting. Off (no thread) when the window is zero; by default on, except under a
/// cgroup CPU quota, where the spinner's time would count against the service's own.
public enum IdleSpin {
  /// The window when nothing says otherwise: 100 µs, about one round trip on a local network;
  /// nil (off) when this process runs under a CPU quota.
  public static let defaultWindow: Duration? =
    cpuQuotaLimited(cgroup: SystemFiles.read("/proc/self/cgroup"), read: { SystemFiles.read($0) })
    ? nil : .microseconds(100)

  /// The longest window accepted, in microseconds and as a duration (a spinner that never parks
  /// is a busy loop).
  public static let maxWindowMicroseconds = 10_000
  public static let maxWindow: Duration = .microseconds(maxWindowMicroseconds)

  /// Whether this process's cgroup (from the text of `/proc/self/cgroup`) or one of its parents
  /// has a CPU quota: cgroup v2's `cpu.max` is "QUOTA PERIOD", not "max PERIOD"; v1's
  /// `cpu.cfs_quota_us` is positive. `read` reads a file under /sys/fs/cgroup.
  static func cpuQuotaLimited(cgroup: String?, read: (String) -> String?) -> Bool {
    guard let cgroup else { return false }
    for line in cgroup.split(separator: "\n") {
      let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
      guard parts.count == 3, parts[2].hasPrefix("/"), !parts[2].contains("..") else { continue }
      let (root, name): (String, String)
      if parts[0] == "0" && parts[1].isEmpty {
        (root, name) = ("/sys/fs/cgroup", "/cpu.max")
      } else if parts[1].split(separator: ",").contains("cpu") {
        (root, name) = ("/sys/fs/cgroup/\(parts[1])", "/cpu.cfs_quota_us")
      } else {
        continue
      }
      var path = String(parts[2])
      while true {
        let dir = path == "/" ? "" : path
        if let text = read(root + dir + name),
          let first = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first, let n = Int(first), n > 0
        {
          return true
        }
        if dir.isEmpty { break }
        path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if path.isEmpty { path = "/" }
      }
    }
    return false
  }

  private static let spinners = Synchronization.Mutex<[ObjectIdentifier: IdleSpinner]>([:])

  /// Spinner threads live as long as the process; a process that makes more event loops than
  /// this over its life (tests) runs the rest without.
  static let maxSpinners = 256

  /// The spinner of `loop` (made on first use), its window at least `window`; nil past
  /// `maxSpinners`.
  static func spinner(for loop: any EventLoop, window: Duration) -> IdleSpinner? {
    spinners.withLock { all in
      let id = ObjectIdentifier(loop)
      if let spinner = all[id] {
        spinner.widen(to: window)
        return spinner
      }
      guard all.count < maxSpinners else { return nil }
      let spinner = IdleSpinner(window: window)
      all[id] = spinner
      return spinner
    }
  }
}

/// One event loop's spinner (see `IdleSpin`). `activity()` is called on the loop's thread; the
/// spinner's own thread lives as long as the process and is parked whenever the loop is idle.
final class IdleSpinner: Sendable {
  enum State: UInt8 {
    case parked = 0
    case spinning = 1
  }

  /// Bumped by each read of the loop.
  private let sequence = Synchronization.Atomic<UInt64>(0)
  /// The CPU the loop last read on.
  private let cpu = Synchronization.Atomic<Int32>(-1)
  /// The loop's thread id (an event loop's thread is its for life); 0 until its first read.
  private let loopThread = Synchronization.Atomic<Int32>(0)
  /// The window in nanoseconds.
  private let windowNanos: Synchronization.Atomic<Int64>
  /// Set by the spinner before it parks; the loop takes it back when it wakes the spinner.
  private let parkRequested = Synchronization.Atomic<Bool>(false)
  private let wakeUp = ConditionLock<Int>(value: 0)
  /// Spinning until the thread first parks.
  private let observedState = Synchronization.Atomic<UInt8>(State.spinning.rawValue)

  private let wakeUps = Synchronization.Atomic<Int>(0)
  private let fairShareYields = Synchronization.Atomic<Int>(0)

  /// A spinner away from its CPU this long between two looks was not preempted by the loop
  /// handling one read (microseconds) but scheduled out while the loop was busy.
  static let preemptedAfterNanos: Int64 = 1_000_000

  /// Parked or spinning, for tests and diagnostics.
  var state: State { State(rawValue: observedState.load(ordering: .relaxed)) ?? .parked }
  /// How often the spinner was woken from parking.
  var wakeCount: Int { wakeUps.load(ordering: .relaxed) }
  /// How often the spinner found itself running while the loop waited, and gave way.
  var yieldCount: Int { fairShareYields.load(ordering: .relaxed) }
  var window: Duration { .nanoseconds(windowNanos.load(ordering: .relaxed)) }

  init(window: Duration) {
    windowNanos = Synchronization.Atomic(Self.nanos(window))
    let box = Unmanaged.passRetained(self).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
      &thread, nil,
      { raw in
        let spinner = Unmanaged<IdleSpinner>.fromOpaque(raw!).takeRetainedValue()
        spinner.run()
        return nil
      }, box)
    if rc == 0 {
      _ = tuoyu_pthread_setname_np(thread, "tuoyu-idle-spin")
      pthread_detach(thread)
    } else {
      Unmanaged<IdleSpinner>.fromOpaque(box).release()
    }
  }

  private static func nanos(_ d: Duration) -> Int64 {
    let clamped = min(max(d, .zero), IdleSpin.maxWindow)
    return clamped.components.seconds * 1_000_000_000 + clamped.components.attoseconds / 1_000_000_000
  }

  func widen(to window: Duration) {
    let n = Self.nanos(window)
    var current = windowNanos.load(ordering: .relaxed)
    while n > current {
      let (exchanged, original) = windowNanos.compareExchange(expected: current, desired: n, ordering: .relaxed)
      if exchanged { break }
      current = original
    }
  }

  /// The loop read something: spin for the window from now (waking the spinner if it parked).
  @inline(__always)
  func activity() {
    let here = tuoyu_sched_getcpu()
    if cpu.load(ordering: .relaxed) != here { cpu.store(here, ordering: .relaxed) }
    if loopThread.load(ordering: .relaxed) == 0 { loopThread.store(tuoyu_gettid(), ordering: .relaxed) }
    sequence.wrappingAdd(1, ordering: .sequentiallyConsistent)
    if parkRequested.load(ordering: .sequentiallyConsistent) { wake() }
  }

  private func wake() {
    guard parkRequested.exchange(false, ordering: .sequentiallyConsistent) else { return }
    wakeUp.lock()
    wakeUp.unlock(withValue: 1)
  }

  private static func now() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
  }

  private func run() {
    // A spinner that could not lower itself to SCHED_IDLE (a seccomp profile that refuses it)
    // would compete with real work: it ends instead, and the loop runs as if it were off.
    guard tuoyu_sched_idle() == 0 else {
      observedState.store(State.parked.rawValue, ordering: .relaxed)
      return
    }
    var pinned: Int32 = -1
    var last = sequence.load(ordering: .relaxed)
    var deadline = Int64.min
    var lastLook = Self.now()
    var resumed = false
    var loopStat = LoopStat()
    func parkUntilRead(after seen: UInt64) {
      park(seen: seen)
      last = sequence.load(ordering: .relaxed)
      lastLook = Self.now()
      resumed = true
    }
    while true {
      let now = Self.now()
      let checkLoop = resumed || now - lastLook > Self.preemptedAfterNanos
      resumed = false
      lastLook = now
      let seen = sequence.load(ordering: .relaxed)
      if checkLoop, loopStat.isRunnable(thread: loopThread.load(ordering: .relaxed)) == true {
        // Just woken, or away from the CPU for long while spinning, and the loop is runnable:
        // the scheduler gave this thread its small share (SCHED_IDLE still has a weight) while
        // the loop had work, and spinning would keep the loop waiting for the window. Give the
        // CPU back until the loop reads again (the spinner runs when the loop blocks).
        fairShareYields.wrappingAdd(1, ordering: .relaxed)
        parkUntilRead(after: seen)
      } else if seen != last {
        last = seen  // the loop read: a window from now
      } else if now >= deadline {
        parkUntilRead(after: seen)  // the window passed without a read
      } else {
        continue
      }
      deadline = Self.now() + windowNanos.load(ordering: .relaxed)
      // Follow the loop's thread to its CPU: spinning anywhere else would not keep it awake.
      let target = cpu.load(ordering: .relaxed)
      if target != pinned, target >= 0, tuoyu_pin_to_cpu(target) == 0 { pinned = target }
    }
  }

  /// Parks until the loop reads again after `seen`.
  private func park(seen: UInt64) {
    observedState.store(State.parked.rawValue, ordering: .relaxed)
    defer { observedState.store(State.spinning.rawValue, ordering: .relaxed) }
    parkRequested.store(true, ordering: .sequentiallyConsistent)
    if sequence.load(ordering: .sequentiallyConsistent) != seen {
      // The loop read in between: take the request back, unless the loop took it (then its
      // signal is on the way and must be consumed).
      if parkRequested.exchange(false, ordering: .sequentiallyConsistent) { return }
    }
    wakeUp.lock(whenValue: 1)
    wakeUp.unlock(withValue: 0)
    wakeUps.wrappingAdd(1, ordering: .relaxed)
  }
}

/// Reads whether a thread of this process is runnable (or running) from its
/// `/proc/self/task/TID/stat`, the file kept open.
struct LoopStat {
  private var fd: Int32 = -1
  private var thread: Int32 = 0
  private var buffer = [UInt8](repeating: 0, count: 1024)

  /// Whether `thread` is runnable; nil when it cannot be told.
  mutating func isRunnable(thread: Int32) -> Bool? {
    guard thread > 0 else { return nil }
    if thread != self.thread {
      if fd >= 0 { close(fd) }
      fd = open("/proc/self/task/\(thread)/stat", O_RDONLY | O_CLOEXEC)
      self.thread = thread
    }
    guard fd >= 0 else { return nil }
    let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
    guard n > 0 else { return nil }
    return Self.runnable(stat: buffer[..<n])
  }

  /// The state field of a `stat` line, after the command name in parentheses (which may itself
  /// hold parentheses and spaces, so the last `)` ends it): `R` is running or runnable.
  static func runnable(stat: some BidirectionalCollection<UInt8>) -> Bool? {
    guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
    let rest = stat[stat.index(after: close)...].drop(while: { $0 == UInt8(ascii: " ") })
    guard let state = rest.first else { return nil }
    return state == UInt8(ascii: "R")
  }
}
