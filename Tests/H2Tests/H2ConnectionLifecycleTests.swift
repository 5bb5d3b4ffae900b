import Testing

@testable import H2

/// The connection's lifecycle as a value: every event in every state.
@Suite struct H2ConnectionLifecycleTests {
  typealias L = H2ConnectionLifecycle

  enum Event: CaseIterable {
    case gracefulServer, gracefulClient, errorGoAway, shutdownPingAck, userPingAck, close, lost
  }

  static func apply(_ e: Event, _ l: L) -> (String, L) {
    var l = l
    let action: String
    switch e {
    case .gracefulServer: action = "\(l.goAway(server: true, graceful: true))"
    case .gracefulClient: action = "\(l.goAway(server: false, graceful: true))"
    case .errorGoAway: action = "\(l.goAway(server: true, graceful: false))"
    case .shutdownPingAck: action = "\(l.pingAck(isShutdownPing: true))"
    case .userPingAck: action = "\(l.pingAck(isShutdownPing: false))"
    case .close: action = "\(l.close(reason: "test"))"
    case .lost: action = "\(l.lost())"
    }
    return (action, l)
  }

  static let reachable: [L] = {
    var seen = [L()]
    var frontier = [L()]
    while let l = frontier.popLast() {
      for e in Event.allCases {
        let next = apply(e, l).1
        if !seen.contains(next) {
          seen.append(next)
          frontier.append(next)
        }
      }
    }
    return seen
  }()

  @Test func everyStateIsReached() {
    let states = Set(Self.reachable.map { "\($0.state)" })
    #expect(states.contains("open"))
    #expect(states.contains("draining(awaitingPingAck: true)") && states.contains("draining(awaitingPingAck: false)"))
    #expect(Self.reachable.contains { $0.state == .closed(reason: "test", byPeer: false) })
    #expect(Self.reachable.contains { $0.state == .closed(reason: "connection closed by the peer", byPeer: true) })
  }

  @Test func aClosedConnectionSaysNothingMore() {
    for l in Self.reachable where l.isClosed {
      for e in Event.allCases {
        let (action, next) = Self.apply(e, l)
        #expect(next == l, "\(e) changed a closed connection")
        #expect(["none", "false"].contains(action), "\(e) did \(action)")
      }
    }
  }

  @Test func gracefulShutdownIsNoticePingThenOneFinalGoAway() {
    var l = L()
    let notice = l.goAway(server: true, graceful: true)
    #expect(notice == .sendNoticeAndPing && l.isGoingAway && !l.isClosed)
    let again = l.goAway(server: true, graceful: true)
    #expect(again == .none)  // said once
    let user = l.pingAck(isShutdownPing: false)
    #expect(user == .deliver)  // the user's pings still come back
    let final = l.pingAck(isShutdownPing: true)
    #expect(final == .sendFinalGoAway)
    let repeated = l.pingAck(isShutdownPing: true)
    #expect(repeated == .none)  // a repeated ack sends nothing more
    // An error after the graceful notice still goes out; then nothing.
    let error = l.goAway(server: true, graceful: false)
    #expect(error == .sendGoAway)
    let closedNow = l.close(reason: "done")
    let closedAgain = l.close(reason: "again")
    #expect(closedNow && !closedAgain && l.closeReason == "done")
    let lostNow = l.lost()
    #expect(!lostNow)  // our close keeps its reason
    #expect(l.closeReason == "done")
  }

  @Test func everyGoAwayFromOpenLeavesItDraining() {
    for l in Self.reachable {
      for e in [Event.gracefulServer, .gracefulClient, .errorGoAway] {
        let (action, next) = Self.apply(e, l)
        if case .open = l.state {
          #expect(action != "none" && next.isGoingAway && !next.isClosed, "\(e)")
        }
        if case .draining = l.state, e != .errorGoAway { #expect(action == "none") }
      }
      // A client has no notice: its graceful GOAWAY is the final one.
      if case .open = l.state { #expect(Self.apply(.gracefulClient, l).0 == "sendGoAway") }
    }
  }

  @Test func losingTheChannelRecordsThePeerOnlyIfWeHadNotClosed() {
    for l in Self.reachable {
      let (action, next) = Self.apply(.lost, l)
      #expect(action == (l.isClosed ? "false" : "true"))
      #expect(next.isClosed)
      if !l.isClosed { #expect(next.closeReason == "connection closed by the peer") }
    }
  }
}
