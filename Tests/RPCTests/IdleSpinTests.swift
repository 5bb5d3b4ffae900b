import CSched
import Foundation
import NIOPosix
import Synchronization
import Testing

@testable import RPC

/// The idle spinner: off under a CPU quota, spins after activity, parks when the window passes.
@Suite struct IdleSpinTests {
  /// Files under /sys/fs/cgroup, as a fake.
  static func files(_ files: [String: String]) -> (String) -> String? { { files[$0] } }

  @Test func aQuotaOnTheCgroupOrAParentTurnsItOff() {
    let v2 = "0::/kubepods/pod1/container\n"
    let leaf = "/sys/fs/cgroup/kubepods/pod1/container/cpu.max"
    #expect(!IdleSpin.cpuQuotaLimited(cgroup: nil, read: Self.files([:])))
    #expect(!IdleSpin.cpuQuotaLimited(cgroup: v2, read: Self.files([:])))
    #expect(!IdleSpin.cpuQuotaLimited(cgroup: v2, read: Self.files([leaf: "max 100000\n"])))
    #expect(IdleSpin.cpuQuotaLimited(cgroup: v2, read: Self.files([leaf: "50000 100000\n"])))
    #expect(
      IdleSpin.cpuQuotaLimited(cgroup: v2, read: Self.files(["/sys/fs/cgroup/kubepods/cpu.max": "200000 100000"])))
    #expect(IdleSpin.cpuQuotaLimited(cgroup: "0::/\n", read: Self.files(["/sys/fs/cgroup/cpu.max": "100000 100000"])))
    // cgroup v1: the cpu controller's cfs quota, -1 when there is none.
    let v1 = "4:memory:/x\n2:cpu,cpuacct:/docker/abc\n0::/\n"
    let quota = "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us"
    #expect(!IdleSpin.cpuQuotaLimited(cgroup: v1, read: Self.files([quota: "-1\n"])))
    #expect(IdleSpin.cpuQuotaLimited(cgroup: v1, read: Self.files([quota: "150000\n"])))
    #expect(!IdleSpin.cpuQuotaLimited(cgroup: v1, read: Self.files(["/sys/fs/cgroup/memory/x/cpu.cfs_quota_us": "1"])))
    // A path that is not absolute, or climbs, says nothing.
    #expect(!IdleSpin.cpuQuotaLimited(cgroup: "0::x/y\n", read: Self.files(["/sys/fs/cgroupx/y/cpu.max": "1 100000"])))
    #expect(
      !IdleSpin.cpuQuotaLimited(cgroup: "0::/a/../b\n", read: Self.files(["/sys/fs/cgroup/a/../b/cpu.max": "1 1"])))
  }

  /// Waits up to 5 s for `condition`.
  static func eventually(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<500 {
      if condition() { return true }
      try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
  }

  /// The scheduling policy of this process's threads named `name` (field 41 of their stat).
  static func policies(of name: String) -> [Int] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.compactMap { tid in
      guard let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8),
        comm.trimmingCharacters(in: .whitespacesAndNewlines) == name,
        let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { return nil }
      // Fields after "(comm)" start at field 3; the policy is field 41.
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      return fields.count > 38 ? Int(fields[38]) : nil
    }
  }

  @Test func spinsAfterActivityAndParksAfterTheWindow() async throws {
    let spinner = IdleSpinner(window: .milliseconds(20))
    #expect(try await Self.eventually { spinner.state == .parked })
    for round in 1...3 {
      spinner.activity()
      // Woken (it counts each wake-up), then parked again once 20 ms pass without activity.
      #expect(try await Self.eventually { spinner.wakeCount >= round })
      #expect(try await Self.eventually { spinner.state == .parked })
    }
    #expect(spinner.wakeCount == 3)
    // Its thread runs at SCHED_IDLE (5): it only ever takes time nothing else wants.
    let policies = Self.policies(of: "tuoyu-idle-spin")
    #expect(!policies.isEmpty && policies.allSatisfy { $0 == 5 }, "\(policies)")
  }

  /// The state of a thread from its stat line: the command name may hold parentheses.
  @Test func aThreadsStateIsReadFromItsStatLine() {
    #expect(LoopStat.runnable(stat: Array("1234 (NIO-ELT-0-#0) R 1 2 3".utf8)) == true)
    #expect(LoopStat.runnable(stat: Array("1234 (NIO-ELT-0-#0) S 1 2 3".utf8)) == false)
    #expect(LoopStat.runnable(stat: Array("77 (a) S (b) R 5".utf8)) == true)
    #expect(LoopStat.runnable(stat: Array("no parenthesis".utf8)) == nil)
    #expect(LoopStat.runnable(stat: Array("1 (x)  ".utf8)) == nil)
    var stat = LoopStat()
    #expect(stat.isRunnable(thread: 0) == nil)
    #expect(stat.isRunnable(thread: tuoyu_gettid()) == true, "this thread is running")
  }

  final class StopFlag: Sendable {
    let value = Synchronization.Atomic<Bool>(false)
  }

  /// A loop that stays busy on the spinner's CPU: the scheduler still gives the SCHED_IDLE
  /// spinner its small share now and then, and the spinner gives it back at once (parks) rather
  /// than spin its window while the loop waits.
  @Test func aSpinnerScheduledWhileTheLoopIsBusyGivesWay() async throws {
    let spinner = IdleSpinner(window: .milliseconds(5))
    let done = StopFlag()
    let thread = Thread {
      // The "loop": pinned to one CPU, reading (activity) and working without a pause.
      guard tuoyu_pin_to_cpu(tuoyu_sched_getcpu()) == 0 else { return }
      let start = Date()
      while !done.value.load(ordering: .relaxed) && Date().timeIntervalSince(start) < 10 {
        spinner.activity()
        var x = 0
        for i in 0..<1000 { x &+= i }
        if x == 1 { print(x) }
      }
    }
    thread.start()
    defer { done.value.store(true, ordering: .relaxed) }
    #expect(try await Self.eventually { spinner.yieldCount > 0 })
  }

  @Test func theWindowIsCappedAndOnlyWidens() {
    let spinner = IdleSpinner(window: .microseconds(50))
    #expect(spinner.window == .microseconds(50))
    spinner.widen(to: .microseconds(10))
    #expect(spinner.window == .microseconds(50))
    spinner.widen(to: .seconds(5))
    #expect(spinner.window == IdleSpin.maxWindow)
  }

  /// One spinner per event loop, however many servers share the loop.
  @Test func oneSpinnerPerLoop() throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    defer { try? group.syncShutdownGracefully() }
    let loops = Array(group.makeIterator())
    let a = try #require(IdleSpin.spinner(for: loops[0], window: .microseconds(100)))
    #expect(IdleSpin.spinner(for: loops[0], window: .microseconds(30)) === a)
    #expect(IdleSpin.spinner(for: loops[1], window: .microseconds(100)) !== a)
  }
}
