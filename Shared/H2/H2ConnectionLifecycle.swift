/// The life of one HTTP/2 connection as a value: open, draining after a GOAWAY, closed. The
/// connection asks it what to do on each event and performs the answer; it is tested for every
/// event in every state (`H2ConnectionLifecycleTests`).
struct H2ConnectionLifecycle: Equatable {
  enum State: Equatable {
    case open
    /// GOAWAY said; `awaitingPingAck`: a server's graceful shutdown sent its notice (GOAWAY with
    /// the largest stream id) and a PING, and sends the final GOAWAY when the PING comes back.
    case draining(awaitingPingAck: Bool)
    /// `reason`: why (for errors and logs); `byPeer`: the peer closed it, not we.
    case closed(reason: String, byPeer: Bool)
  }

  private(set) var state = State.open

  var isClosed: Bool { if case .closed = state { true } else { false } }
  var isGoingAway: Bool { if case .open = state { false } else { true } }
  var closeReason: String {
    if case .closed(let reason, _) = state { return reason }
    return ""
  }

  enum GoAwayAction: Equatable {
    /// A server's graceful shutdown: GOAWAY(2^31-1) and a PING; the real GOAWAY after its ack.
    case sendNoticeAndPing
    /// GOAWAY with the last stream processed and the error.
    case sendGoAway
    case none
  }

  /// We say GOAWAY (a server's graceful shutdown, or an error). Said once; an error after a
  /// graceful notice still goes out (it says more).
  mutating func goAway(server: Bool, graceful: Bool) -> GoAwayAction {
    switch state {
    case .closed: return .none
    case .draining where graceful: return .none
    case .open where server && graceful:
      state = .draining(awaitingPingAck: true)
      return .sendNoticeAndPing
    case .open, .draining:
      state = .draining(awaitingPingAck: false)
      return .sendGoAway
    }
  }

  enum PingAckAction: Equatable { case sendFinalGoAway, deliver, none }

  /// A PING ack came: ours for the shutdown notice (then the final GOAWAY), or the user's.
  mutating func pingAck(isShutdownPing: Bool) -> PingAckAction {
    switch state {
    case .closed: return .none
    case .draining(awaitingPingAck: true) where isShutdownPing:
      state = .draining(awaitingPingAck: false)
      return .sendFinalGoAway
    default: return isShutdownPing ? .none : .deliver
    }
  }

  /// We close the connection; true the first time (then the channel is closed).
  mutating func close(reason: String) -> Bool {
    guard !isClosed else { return false }
    state = .closed(reason: reason, byPeer: false)
    return true
  }

  /// The channel went away (closed by the peer, or after our close). True the first time it is
  /// learnt that the peer closed it — the reason is then the peer's.
  mutating func lost() -> Bool {
    guard !isClosed else { return false }
    state = .closed(reason: "connection closed by the peer", byPeer: true)
    return true
  }
}
