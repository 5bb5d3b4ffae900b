/// Per-call options of a client.
public struct CallOptions: Sendable {
  /// How long the caller waits; sent as `grpc-timeout` and enforced locally.
  public var timeout: Duration?
  /// Wait for a connection (through back-off) instead of failing fast with UNAVAILABLE.
  public var waitForReady: Bool
  /// Compress the request messages (`grpc-encoding`); nil sends them as they are.
  public var compression: MessageEncoding?

  public init(timeout: Duration? = nil, waitForReady: Bool = false, compression: MessageEncoding? = nil) {
    self.timeout = timeout
    self.waitForReady = waitForReady
    self.compression = compression
  }
}

/// A unary call's response with the metadata around it.
public struct UnaryResponse<Message: Sendable>: Sendable {
  public var message: Message
  public var initialMetadata: Metadata
  public var trailingMetadata: Metadata
}
