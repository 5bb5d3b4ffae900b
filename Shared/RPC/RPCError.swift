/// The error a handler throws, and a client receives, for a call that did not end OK.
public struct RPCError: Error, Sendable, Hashable, CustomStringConvertible {
  public var code: Status.Code
  public var message: String
  /// Trailing metadata sent with the status.
  public var metadata: Metadata
  /// Serialized `google.rpc.Status`, sent as `grpc-status-details-bin`.
  public var details: [UInt8]?

  public init(
    code: Status.Code, message: String, metadata: Metadata = [:], details: [UInt8]? = nil
  ) {
    precondition(code != .ok, "an RPCError cannot carry OK")
    self.code = code
    self.message = message
    self.metadata = metadata
    self.details = details
  }

  public var status: Status { Status(code: code, message: message) }
  public var description: String { "\(code): \(message)" }
}

/// An error that knows the status it answers a call with (e.g. a service's rule refusals).
public protocol RPCErrorConvertible: Error {
  var rpcError: RPCError { get }
}
