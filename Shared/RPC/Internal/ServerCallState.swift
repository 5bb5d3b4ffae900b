/// The life of one server call as a value: `ServerCall` feeds it what happened (headers, data,
/// the end of the request, a write, the handler's end, a reset) and performs the action it
/// returns. Every decision about what may happen next is here, tested as values for every event
/// in every state (`ServerCallStateTests`); `ServerCall` keeps only buffers and waiters.
struct ServerCallState: Equatable {
  enum State: Equatable {
    /// Nothing accepted yet: the request headers decide.
    case awaitingHeaders
    case open(Open)
    /// The response ended (status sent) or the peer reset the stream.
    case closed(byPeer: Bool)
  }

  struct Open: Equatable {
    /// Unary and server-streaming calls take exactly one request message before the handler runs.
    var singleRequest: Bool
    var requestEnded = false
    var handlerStarted = false
    var response = Response.notStarted
  }

  enum Response: Equatable {
    case notStarted
    /// Headers sent; `encodingAnnounced`: they named a `grpc-encoding`, so messages may be compressed.
    case streaming(encodingAnnounced: Bool)
  }

  private(set) var state = State.awaitingHeaders

  var isClosed: Bool { if case .closed = state { true } else { false } }
  var isCancelled: Bool { state == .closed(byPeer: true) }

  // MARK: Events

  enum HeadersAction: Equatable { case validate, ignore }

  /// Headers arrived on the stream: the first are the request's, to validate; later ones
  /// (trailers, which gRPC clients do not send) and any after the end are ignored.
  func headersReceived() -> HeadersAction { state == .awaitingHeaders ? .validate : .ignore }

  enum AcceptAction: Equatable { case startHandler, awaitRequest, none }

  /// The request headers were valid and name a method: the call is open. A streaming handler
  /// starts now; a unary one once its single message is complete.
  mutating func accepted(singleRequest: Bool) -> AcceptAction {
    guard state == .awaitingHeaders else { return .none }
    var open = Open(singleRequest: singleRequest)
    open.handlerStarted = !singleRequest
    state = .open(open)
    return singleRequest ? .awaitRequest : .startHandler
  }

  enum DataAction: Equatable { case deframe, discard }

  /// DATA arrived: deframed while the call is open; otherwise only its flow-control credit is
  /// returned.
  func dataReceived() -> DataAction {
    if case .open = state { return .deframe }
    return .discard
  }

  enum MessageAction: Equatable { case queue, tooMany, discard }

  /// A whole request message was deframed (`queued`: how many are now waiting, it included).
  func messageReceived(queued: Int) -> MessageAction {
    guard case .open(let o) = state else { return .discard }
    return o.singleRequest && queued > 1 ? .tooMany : .queue
  }

  enum EndAction: Equatable {
    case none, startHandler, wakeReader
    case fail(String)
  }

  /// The request stream ended (END_STREAM). `partialMessage`: bytes of an unfinished message
  /// remain; `queued`: whole messages waiting.
  mutating func requestEnded(partialMessage: Bool, queued: Int) -> EndAction {
    guard case .open(var o) = state, !o.requestEnded else { return .none }
    o.requestEnded = true
    defer { state = .open(o) }
    if partialMessage { return .fail("request ended inside a message") }
    if o.singleRequest {
      guard queued == 1 else { return .fail("expected one request message, got \(queued)") }
      if o.handlerStarted { return .none }
      o.handlerStarted = true
      return .startHandler
    }
    return .wakeReader
  }

  enum ReadAction: Equatable { case deliver, cancelled, endOfStream, wait }

  /// The handler asks for the next request message (`queued`: one is waiting).
  func nextRequest(queued: Bool) -> ReadAction {
    if queued { return .deliver }
    switch state {
    case .closed(byPeer: true): return .cancelled
    case .closed(byPeer: false): return .endOfStream
    case .open(let o): return o.requestEnded ? .endOfStream : .wait
    case .awaitingHeaders: return .wait
    }
  }

  enum WriteAction: Equatable {
    /// The response headers first (naming the encoding when `announceEncoding`), then the message.
    case sendHeadersAndMessage(announceEncoding: Bool)
    /// `compressible`: the headers announced an encoding, so this message may be compressed.
    case sendMessage(compressible: Bool)
    /// The call is over: the handler's write fails (cancelled).
    case refuse
  }

  /// The handler writes a response message. `wantsEncoding`: it asked for compression and the
  /// client accepts an encoding (only the first write's wish can announce it).
  mutating func write(wantsEncoding: Bool) -> WriteAction {
    guard case .open(var o) = state else { return .refuse }
    switch o.response {
    case .notStarted:
      o.response = .streaming(encodingAnnounced: wantsEncoding)
      state = .open(o)
      return .sendHeadersAndMessage(announceEncoding: wantsEncoding)
    case .streaming(let announced):
      return .sendMessage(compressible: announced)
    }
  }

  enum FinishAction: Equatable { case sendTrailers, sendTrailersOnly, none }

  /// The call ends with a status (the handler returned or threw, or the server refused the call):
  /// trailers after the headers, or a trailers-only response. Once.
  mutating func finish() -> FinishAction {
    switch state {
    case .closed: return .none
    case .awaitingHeaders:
      state = .closed(byPeer: false)
      return .sendTrailersOnly
    case .open(let o):
      state = .closed(byPeer: false)
      return o.response == .notStarted ? .sendTrailersOnly : .sendTrailers
    }
  }

  enum ResetAction: Equatable { case cancelHandler, none }

  /// The peer reset the stream, or the connection went, before the status was sent.
  mutating func peerClosed() -> ResetAction {
    if isClosed { return .none }
    state = .closed(byPeer: true)
    return .cancelHandler
  }
}
