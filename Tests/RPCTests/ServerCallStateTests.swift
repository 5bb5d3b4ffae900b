import Testing
import NIOCore

@_spi(Fuzzing) @testable import RPC

/// The server call's state machine as a value: every event in every reachable state.
@Suite struct ServerCallStateTests {
  typealias S = ServerCallState

  /// Every event the call can see, with the parameters that change the outcome.
  enum Event: CustomStringConvertible, CaseIterable {
    case headers, acceptUnary, acceptStreaming, data, message1, message2
    case endClean0, endClean1, endClean2, endPartial
    case read, readQueued, write, writeCompressed, finish, reset

    var description: String { "\(self)" }
  }

  /// What an event did: its action (as text) and the state after.
  static func apply(_ e: Event, to s: S) -> (String, S) {
    var s = s
    let action: String
    switch e {
    case .headers: action = "\(s.headersReceived())"
    case .acceptUnary: action = "\(s.accepted(singleRequest: true))"
    case .acceptStreaming: action = "\(s.accepted(singleRequest: false))"
    case .data: action = "\(s.dataReceived())"
    case .message1: action = "\(s.messageReceived(queued: 1))"
    case .message2: action = "\(s.messageReceived(queued: 2))"
    case .endClean0: action = "\(s.requestEnded(partialMessage: false, queued: 0))"
    case .endClean1: action = "\(s.requestEnded(partialMessage: false, queued: 1))"
    case .endClean2: action = "\(s.requestEnded(partialMessage: false, queued: 2))"
    case .endPartial: action = "\(s.requestEnded(partialMessage: true, queued: 0))"
    case .read: action = "\(s.nextRequest(queued: false))"
    case .readQueued: action = "\(s.nextRequest(queued: true))"
    case .write: action = "\(s.write(wantsEncoding: false))"
    case .writeCompressed: action = "\(s.write(wantsEncoding: true))"
    case .finish: action = "\(s.finish())"
    case .reset: action = "\(s.peerClosed())"
    }
    return (action, s)
  }

  /// Every state reachable from the start.
  static let reachable: [S] = {
    var seen: [S] = [S()]
    var frontier = [S()]
    while let s = frontier.popLast() {
      for e in Event.allCases {
        let (_, next) = apply(e, to: s)
        if !seen.contains(next) {
          seen.append(next)
          frontier.append(next)
        }
      }
    }
    return seen
  }()

  @Test func theStateSpaceIsSmallAndComplete() {
    // awaiting, closed×2, and open: single/streaming × ended × started × 3 responses (minus the
    // impossible: a streaming call's handler always started, a unary's only after its end).
    #expect(Self.reachable.count >= 10 && Self.reachable.count <= 24, "\(Self.reachable.count)")
    #expect(Self.reachable.contains(S()))
    #expect(Self.reachable.contains { $0.isCancelled })
  }

  @Test func aClosedCallDoesNothingMoreWhateverHappens() {
    for s in Self.reachable where s.isClosed {
      for e in Event.allCases {
        let (action, next) = Self.apply(e, to: s)
        #expect(next == s, "\(e) changed a closed call")
        #expect(
          ["ignore", "none", "discard", "refuse", "deliver", "cancelled", "endOfStream"].contains(action),
          "\(e) in \(s) did \(action)")
      }
    }
  }

  @Test func theHandlerStartsOnceAndOnlyWithItsRequest() {
    for s in Self.reachable {
      for e in Event.allCases {
        let (action, next) = Self.apply(e, to: s)
        guard action == "startHandler" else { continue }
        if case .open(let o) = s.state { #expect(!o.handlerStarted, "\(e) started a started handler") }
        guard case .open(let after) = next.state else {
          Issue.record("startHandler left the call not open")
          continue
        }
        #expect(after.handlerStarted)
        // A unary handler starts only once its request ended with exactly one message.
        if after.singleRequest { #expect(e == .endClean1 && after.requestEnded, "\(e) started a unary handler") }
      }
    }
  }

  @Test func headersGoOnceThenMessagesThenOneStatus() {
    for s in Self.reachable {
      for e in [Event.write, .writeCompressed] {
        let (action, next) = Self.apply(e, to: s)
        switch s.state {
        case .open(let o) where o.response == .notStarted:
          #expect(action == "sendHeadersAndMessage(announceEncoding: \(e == .writeCompressed))")
          #expect(next.state != s.state)
        case .open(let o):
          #expect(action.hasPrefix("sendMessage"))
          #expect(action == "sendMessage(compressible: \(o.response == .streaming(encodingAnnounced: true)))")
          #expect(next == s)
        default:
          #expect(action == "refuse")
        }
      }
      let (finish, after) = Self.apply(.finish, to: s)
      switch s.state {
      case .closed: #expect(finish == "none")
      case .open(let o) where o.response != .notStarted: #expect(finish == "sendTrailers")
      default: #expect(finish == "sendTrailersOnly")
      }
      #expect(after.isClosed && Self.apply(.finish, to: after).0 == "none")
    }
  }

  @Test func aResetCancelsALiveCallOnceAndReadsThenFail() {
    for s in Self.reachable {
      let (action, next) = Self.apply(.reset, to: s)
      #expect(action == (s.isClosed ? "none" : "cancelHandler"))
      #expect(next.isClosed)
      if !s.isClosed {
        #expect(next.isCancelled && next.nextRequest(queued: false) == .cancelled)
        // What was already queued is still handed over.
        #expect(next.nextRequest(queued: true) == .deliver)
      }
    }
  }

  @Test func requestEndsAreJudgedOnce() {
    var unary = S()
    #expect(unary.accepted(singleRequest: true) == .awaitRequest)
    #expect(unary.messageReceived(queued: 2) == .tooMany)
    #expect(unary.requestEnded(partialMessage: false, queued: 0) == .fail("expected one request message, got 0"))
    #expect(unary.requestEnded(partialMessage: false, queued: 1) == .none)  // a second END is nothing

    var streaming = S()
    #expect(streaming.accepted(singleRequest: false) == .startHandler)
    #expect(streaming.messageReceived(queued: 5) == .queue)
    #expect(streaming.nextRequest(queued: false) == .wait)
    #expect(streaming.requestEnded(partialMessage: true, queued: 0) == .fail("request ended inside a message"))
    var clean = S()
    _ = clean.accepted(singleRequest: false)
    #expect(clean.requestEnded(partialMessage: false, queued: 0) == .wakeReader)
    #expect(clean.nextRequest(queued: false) == .endOfStream)
    // Before the headers are accepted, nothing is judged; a refused call answers trailers-only.
    var refused = S()
    #expect(refused.headersReceived() == .validate && refused.dataReceived() == .discard)
    #expect(refused.requestEnded(partialMessage: true, queued: 0) == .none)
    #expect(refused.finish() == .sendTrailersOnly && refused.headersReceived() == .ignore)
  }
}

/// The call's queue of received request messages: order and flags kept, one held without a buffer.
@Suite struct InboundQueueTests {
  @Test func keepsOrderAndFlagsAcrossTheFirstAndTheRest() {
    var q = InboundQueue()
    #expect(q.isEmpty && q.count == 0 && q.popFirst() == nil)
    var bytes = ByteBufferAllocator().buffer(capacity: 8)
    for i in 0..<6 {
      bytes.clear()
      bytes.writeInteger(UInt8(i))
      q.append(bytes, compressed: i % 2 == 1)
      #expect(q.count == i + 1 && !q.isEmpty)
    }
    for i in 0..<4 {
      let (m, c) = q.popFirst()!
      #expect(m.getInteger(at: m.readerIndex, as: UInt8.self) == UInt8(i) && c == (i % 2 == 1))
    }
    q.append(bytes, compressed: false)  // after pops, appended behind what is left
    #expect(q.count == 3)
    #expect(q.popFirst()!.message.getInteger(at: 0, as: UInt8.self) == 4)
    #expect(q.popFirst()!.message.getInteger(at: 0, as: UInt8.self) == 5)
    #expect(q.popFirst()!.compressed == false)
    #expect(q.isEmpty && q.popFirst() == nil)
  }
}
