/// Names one RPC method: its service, its name, its kind, and so its HTTP/2 path.
public struct MethodDescriptor: Sendable, Hashable, CustomStringConvertible {
  public enum Kind: Sendable, Hashable {
    case unary, clientStreaming, serverStreaming, bidirectionalStreaming

    /// Whether the client sends exactly one message.
    public var isSingleRequest: Bool { self == .unary || self == .serverStreaming }
  }

  /// The fully-qualified service name, e.g. `grpc.health.v1.Health`.
  public let service: String
  /// The method name, e.g. `Check`.
  public let method: String
  public let kind: Kind
  /// `/service/method`.
  public let path: String

  public init(service: String, method: String, kind: Kind) {
    self.service = service
    self.method = method
    self.kind = kind
    self.path = "/\(service)/\(method)"
  }

  public var description: String { path }
}
