import NIOCore

extension String {
  fileprivate func trimmingCharacters(in set: String) -> String {
    var s = Substring(self)
    while let c = s.first, set.contains(c) { s = s.dropFirst() }
    while let c = s.last, set.contains(c) { s = s.dropLast() }
    return String(s)
  }
}

#if canImport(Glibc)
  import Glibc
#endif

/// How many event loops a server runs: one per CPU the process may use.
public enum EventLoopThreads {
  /// The CPUs this process may run on (its affinity mask: `taskset`, a container's cpuset), nil
  /// when the system does not say.
  public static var affinityCPUs: Int? {
    // `Cpus_allowed_list:` of /proc/self/status, e.g. "0", "0-1" or "0,2-3".
    guard let status = SystemFiles.read("/proc/self/status") else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
      return cpuCount(list: String(line.dropFirst(18)).trimmingCharacters(in: " \t"))
    }
    return nil
  }

  /// The CPUs of a Linux CPU list ("0-3,6"), nil if it is not one.
  static func cpuCount(list: String) -> Int? {
    var count = 0
    for part in list.split(separator: ",") {
      let bounds = part.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { Int($0) }
      guard let first = bounds.first ?? nil, let last = bounds.last ?? nil, last >= first, last - first < 1 << 16
      else { return nil }
      count += last - first + 1
    }
    return count > 0 ? count : nil
  }

  /// Sizes NIO's shared event loop group (`MultiThreadedEventLoopGroup.singleton`) to the CPUs
  /// this process may use. NIO counts the machine's cores and the cgroup CPU quota, not the
  /// affinity mask, so a server pinned to one CPU ran two loops there, which took turns in the
  /// scheduler's time slices: a p99 of 4 ms at 16 connections instead of 0.3 ms. Call before the
  /// group is first used; an explicit `NIO_SINGLETON_GROUP_LOOP_COUNT` wins.
  public static func fitSingletonToAffinity() {
    guard getenv("NIO_SINGLETON_GROUP_LOOP_COUNT") == nil, let cpus = affinityCPUs, cpus > 0 else { return }
    setenv("NIO_SINGLETON_GROUP_LOOP_COUNT", String(max(1, min(cpus, System.coreCount))), 0)
  }
}
