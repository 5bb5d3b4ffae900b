import Testing

@testable import RPC

/// The client call's state machine, every event in every state.
@Suite struct ClientCallStateTests {
  typealias S = ClientCallState

  static func states() -> [S] {
    let awaiting = S()
    var receiving = S()
    receiving.responseHeadersAccepted()
    var closed = S()
    _ = closed.close()
    return [awaiting, receiving, closed]
  }

  @Test func headersByStateAndEnd() {
    let expected: [S.State: (S.HeadersAction, S.HeadersAction)] = [
      .awaitingHeaders: (.responseHeaders, .trailersOnly),
      .receiving: (.violation, .trailers),
      .closed: (.ignore, .ignore),
    ]
    for s in Self.states() {
      let (open, ending) = expected[s.state]!
      #expect(s.headersReceived(endStream: false) == open, "\(s.state)")
      #expect(s.headersReceived(endStream: true) == ending, "\(s.state)")
    }
  }

  @Test func dataOnlyBetweenHeadersAndStatus() {
    let expected: [S.State: S.DataAction] = [.awaitingHeaders: .violation, .receiving: .deframe, .closed: .discard]
    for s in Self.states() { #expect(s.dataReceived() == expected[s.state]!, "\(s.state)") }
  }

  @Test func theStatusIsSetOnceAndThenNothingMoves() {
    for s in Self.states() {
      var s = s
      let wasOpen = !s.isClosed
      #expect(s.close() == wasOpen)
      #expect(s.close() == false && s.isClosed && !s.maySend)
      s.responseHeadersAccepted()
      #expect(s.state == .closed)  // headers after the end do not reopen it
    }
    var s = S()
    #expect(s.maySend)
    s.responseHeadersAccepted()
    s.responseHeadersAccepted()
    #expect(s.state == .receiving && s.maySend)
  }
}
