/// Per-call options of a client.
public struct CallOptions: Sendable {
  /// How long the caller waits; sent as `grpc-timeout` and enforced locally.
  public var timeout: Duration?
  /// Wait for a connection (through back-off) instead of failing fast with UNAVAILABLE.
  public var waitForReady: Bool

  public init(timeout: Duration? = nil, waitForReady: Bool = false) {
    self.timeout = timeout
    self.waitForReady = waitForReady
  }
}

/// A unary call's response with the metadata around it.
public struct UnaryResponse<Message: Sendable>: Sendable {
  public var message: Message
  public var initialMetadata: Metadata
  public var trailingMetadata: Metadata
}
