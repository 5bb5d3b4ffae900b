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

/// An error of a lower layer (the database, …) that may mean something to a caller: its status
/// when it does, nil when it is a bug (answered INTERNAL with a logged correlation id). The server
/// asks it after a call's cancellation is ruled out, so a failure caused by the cancellation stays
/// CANCELLED.
public protocol RPCErrorMappable: Error {
  var mappedRPCError: RPCError? { get }
}

extension RPCError {
  /// The status `error` answers a call with, when it names one: an `RPCError`, an error that
  /// converts (refusals, limits), or a lower-layer error that maps (database failures). Nil for
  /// anything else — a bug, answered INTERNAL. The one mapping the server, metrics, audit, imports
  /// and the change feed all use.
  public static func status(of error: any Error) -> RPCError? {
    if let e = error as? RPCError { return e }
    if let e = error as? any RPCErrorConvertible { return e.rpcError }
    if let e = error as? any RPCErrorMappable { return e.mappedRPCError }
    return nil
  }
}
