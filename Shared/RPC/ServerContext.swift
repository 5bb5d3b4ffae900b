import NIOCore

/// What a handler knows about its call, and the metadata it sends back.
///
/// One context belongs to one call and is used by that call's handler task and its interceptors
/// only, one at a time; it is not shared across tasks.
public final class ServerContext: @unchecked Sendable {
  /// The method being called.
  public let descriptor: MethodDescriptor
  /// The caller's custom metadata.
  public let requestMetadata: Metadata
  /// When the caller stops waiting, if it set a `grpc-timeout`.
  public let deadline: NIODeadline?
  /// The remote address, e.g. `ipv4:127.0.0.1:51234`.
  public let peer: String
  /// Sent with the response headers (before the first message).
  public var initialMetadata: Metadata = [:]
  /// Sent with the status.
  public var trailingMetadata: Metadata = [:]
  /// Values interceptors leave for handlers (e.g. the authenticated principal).
  public var values: [String: any Sendable] = [:]
  /// The request's message encoding (`grpc-encoding`), nil for identity.
  public internal(set) var requestEncoding: MessageEncoding?
  /// Whether the request message the handler received last came compressed.
  public internal(set) var lastRequestCompressed = false
  /// The encoding responses may use: the request's if the client accepts it, else the first
  /// the client accepts (`grpc-accept-encoding`); nil when it accepts none.
  public internal(set) var responseEncoding: MessageEncoding?
  /// Compress the response messages written from now on (with `responseEncoding`; nothing
  /// happens without one). On by default when the request came compressed.
  public var compressResponses = false

  public init(
    descriptor: MethodDescriptor, requestMetadata: Metadata, deadline: NIODeadline?, peer: String
  ) {
    self.descriptor = descriptor
    self.requestMetadata = requestMetadata
    self.deadline = deadline
    self.peer = peer
  }
}
