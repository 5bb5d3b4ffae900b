/// A gRPC status: a code and a message, as carried by `grpc-status` and `grpc-message`.
public struct Status: Sendable, Hashable, CustomStringConvertible {
  public var code: Code
  public var message: String

  public init(code: Code, message: String = "") {
    self.code = code
    self.message = message
  }

  public static let ok = Status(code: .ok)

  public var description: String { message.isEmpty ? "\(code)" : "\(code): \(message)" }

  /// The gRPC status codes.
  public enum Code: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case ok = 0
    case cancelled = 1
    case unknown = 2
    case invalidArgument = 3
    case deadlineExceeded = 4
    case notFound = 5
    case alreadyExists = 6
    case permissionDenied = 7
    case resourceExhausted = 8
    case failedPrecondition = 9
    case aborted = 10
    case outOfRange = 11
    case unimplemented = 12
    case `internal` = 13
    case unavailable = 14
    case dataLoss = 15
    case unauthenticated = 16

    public var description: String {
      switch self {
      case .ok: "OK"
      case .cancelled: "CANCELLED"
      case .unknown: "UNKNOWN"
      case .invalidArgument: "INVALID_ARGUMENT"
      case .deadlineExceeded: "DEADLINE_EXCEEDED"
      case .notFound: "NOT_FOUND"
      case .alreadyExists: "ALREADY_EXISTS"
      case .permissionDenied: "PERMISSION_DENIED"
      case .resourceExhausted: "RESOURCE_EXHAUSTED"
      case .failedPrecondition: "FAILED_PRECONDITION"
      case .aborted: "ABORTED"
      case .outOfRange: "OUT_OF_RANGE"
      case .unimplemented: "UNIMPLEMENTED"
      case .internal: "INTERNAL"
      case .unavailable: "UNAVAILABLE"
      case .dataLoss: "DATA_LOSS"
      case .unauthenticated: "UNAUTHENTICATED"
      }
    }

    /// The code for a wire value; values outside 0...16 are UNKNOWN, as the protocol requires.
    public init(wireValue: Int) {
      self = Code(rawValue: wireValue) ?? .unknown
    }

    /// The code a client reports for a non-200 HTTP status (grpc `http-grpc-status-mapping`).
    public init(httpStatus: Int) {
      switch httpStatus {
      case 400: self = .internal
      case 401: self = .unauthenticated
      case 403: self = .permissionDenied
      case 404: self = .unimplemented
      case 429, 502, 503, 504: self = .unavailable
      default: self = .unknown
      }
    }
  }
}
