import Foundation
import NIOPosix
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
