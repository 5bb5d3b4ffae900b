/// The life of one client call as a value: `ClientCall` feeds it what the server sent and what
/// the caller did, and performs the action returned. Tested for every event in every state
/// (`ClientCallStateTests`).
struct ClientCallState: Equatable {
  enum State: Equatable {
    /// The request is open; the response headers have not come.
    case awaitingHeaders
    /// The response headers came; messages may follow, then trailers.
    case receiving
    /// The status is known: from the trailers, a reset, or locally (cancel, deadline, a bad response).
    case closed
  }

  private(set) var state = State.awaitingHeaders

  var isClosed: Bool { state == .closed }

  enum HeadersAction: Equatable {
    /// The response headers: check :status and content-type, then take the metadata.
    case responseHeaders
    /// A trailers-only response: the status without messages.
    case trailersOnly
    /// The trailers after the messages: the status.
    case trailers
    /// HEADERS without END_STREAM after the response headers: not gRPC.
    case violation
    case ignore
  }

  func headersReceived(endStream: Bool) -> HeadersAction {
    switch state {
    case .closed: .ignore
    case .awaitingHeaders: endStream ? .trailersOnly : .responseHeaders
    case .receiving: endStream ? .trailers : .violation
    }
  }

  /// The response headers were good: messages may come.
  mutating func responseHeadersAccepted() {
    if state == .awaitingHeaders { state = .receiving }
  }

  enum DataAction: Equatable { case deframe, discard, violation }

  /// DATA arrived: messages while receiving; nothing after the end; before the headers, not gRPC.
  func dataReceived() -> DataAction {
    switch state {
    case .receiving: .deframe
    case .closed: .discard
    case .awaitingHeaders: .violation
    }
  }

  /// Whether a request message may still be sent.
  var maySend: Bool { state != .closed }

  /// The call ends with a status; true only the first time (the status is set once).
  mutating func close() -> Bool {
    guard state != .closed else { return false }
    state = .closed
    return true
  }
}
