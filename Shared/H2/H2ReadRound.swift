import NIOCore

/// The order in which one event loop's server connections are served within a round.
///
/// NIO's epoll is level-triggered: after `epoll_wait` returns, the connections it reported stay
/// at the front of the kernel's ready list, so a connection whose request arrives just after the
/// call returned is reported last in the next round, served last, answered last — and so late
/// again (README, Benchmarks: what kept 16×1's p99 behind gRPC C++'s). A round instead reads every ready
/// connection first (reads are cheap) and then serves them in the order they were last served,
/// the longest-waiting first, which is about the order their requests arrived, as an
/// edge-triggered poller would see them.
///
/// Used only on its event loop. One per event loop per server (`RPCServer`).
public final class H2ReadRound {
  /// A connection waiting in the round and the tick of its last serving. The connection is held
  /// retained, unmanaged: connections are referenced weakly by their streams, so each retain and
  /// release of one goes through its side table — sorting and walking a managed array cost 4 % of
  /// a call at 16×1.
  private struct Waiting {
    var lastServed: UInt64
    var connection: Unmanaged<H2Connection>
  }

  let eventLoop: any EventLoop
  /// Connections with input read in this round, not yet served.
  private var waiting: [Waiting] = []
  private var serving: [Waiting] = []
  private var scheduled = false
  /// Counts servings; a connection remembers the tick of its last.
  private var tick: UInt64 = 0
  /// Open server connections using this round; with one, input is served at once.
  var members = 0

  public init(eventLoop: any EventLoop) {
    self.eventLoop = eventLoop
  }

  deinit {
    for entry in waiting { entry.connection.release() }
  }

  func nextTick() -> UInt64 {
    tick &+= 1
    return tick
  }

  func add(_ connection: H2Connection) {
    waiting.append(Waiting(lastServed: connection.lastServed, connection: .passRetained(connection)))
    guard !scheduled else { return }
    scheduled = true
    let round = NIOLoopBound(self, eventLoop: eventLoop)
    eventLoop.execute { round.value.run() }
  }

  private func run() {
    scheduled = false
    swap(&waiting, &serving)
    // Few connections per round: an insertion sort by the tick of each one's last serving.
    var i = 1
    while i < serving.count {
      var j = i
      while j > 0 && serving[j - 1].lastServed > serving[j].lastServed {
        serving.swapAt(j - 1, j)
        j -= 1
      }
      i += 1
    }
    for k in serving.indices {
      serving[k].connection.takeRetainedValue().serveRound()
    }
    serving.removeAll(keepingCapacity: true)
  }
}
