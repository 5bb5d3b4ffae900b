import API
import RPC
import SwiftProtobuf

/// Why a request was refused: a field that is invalid (INVALID_ARGUMENT) or a named business rule
/// that does not hold (FAILED_PRECONDITION), or a missing or duplicate resource. Services collect
/// refusals from their rule checks and throw them as one `Refusals`, which reaches the caller as
/// a status whose message names the rule and whose `grpc-status-details-bin` carries
/// `google.rpc.BadRequest` / `google.rpc.PreconditionFailure` with every violation.
public struct Refusal: RPCErrorConvertible, Sendable, Hashable, CustomStringConvertible {
  public enum Kind: Sendable, Hashable {
    case invalidArgument, failedPrecondition, notFound, alreadyExists, permissionDenied
  }

  public let kind: Kind
  /// The rule's name, e.g. "class-size.infant" or "credit-code.check-character".
  public let rule: String
  /// The request field at fault, e.g. "facts.seats.infant.seats"; empty when none.
  public let field: String
  public let message: String

  public init(_ kind: Kind, rule: String, field: String = "", _ message: String) {
    self.kind = kind
    self.rule = rule
    self.field = field
    self.message = message
  }

  public static func invalid(_ field: String, rule: String, _ message: String) -> Refusal {
    Refusal(.invalidArgument, rule: rule, field: field, message)
  }

  public static func precondition(_ rule: String, _ message: String, field: String = "") -> Refusal {
    Refusal(.failedPrecondition, rule: rule, field: field, message)
  }

  public var description: String {
    field.isEmpty ? "\(message) (rule \(rule))" : "\(field): \(message) (rule \(rule))"
  }
}

/// One or more refusals, thrown together; invalid arguments outrank failed preconditions.
public struct Refusals: RPCErrorConvertible, Sendable, CustomStringConvertible {
  public let all: [Refusal]

  public init(_ all: [Refusal]) {
    precondition(!all.isEmpty)
    self.all = all
  }

  /// Throws when `refusals` is not empty.
  public static func check(_ refusals: [Refusal]) throws {
    if !refusals.isEmpty { throw Refusals(refusals) }
  }

  /// The rule of the first refusal of the kind the call answers with.
  public var rule: String { all.first { $0.kind == kind }?.rule ?? "" }

  /// The kind the call answers with.
  public var kind: Refusal.Kind {
    let order: [Refusal.Kind] = [.permissionDenied, .invalidArgument, .notFound, .alreadyExists, .failedPrecondition]
    return order.first { k in all.contains { $0.kind == k } } ?? .failedPrecondition
  }

  public var description: String {
    let shown = all.filter { $0.kind == kind }
    let more = shown.count > 1 ? " (and \(shown.count - 1) more)" : ""
    return shown[0].description + more
  }

  /// The status the caller sees.
  public var rpcError: RPCError {
    let code: Status.Code
    switch kind {
    case .invalidArgument: code = .invalidArgument
    case .failedPrecondition: code = .failedPrecondition
    case .notFound: code = .notFound
    case .alreadyExists: code = .alreadyExists
    case .permissionDenied: code = .permissionDenied
    }
    var status = Google_Rpc_Status()
    status.code = Int32(code.rawValue)
    status.message = description
    let bad = all.filter { $0.kind == .invalidArgument }
    if !bad.isEmpty,
      let any = Google_Rpc_BadRequest.packed(
        bad.map { API.FieldViolation(field: $0.field, rule: $0.rule, message: $0.message) })
    {
      status.details.append(any)
    }
    let rules = all.filter { $0.kind != .invalidArgument }
    if !rules.isEmpty {
      let details = Google_Rpc_PreconditionFailure.with {
        $0.violations = rules.map { r in
          .with {
            $0.type = r.rule
            $0.subject = r.field
            $0.description_p = r.message
          }
        }
      }
      if let any = try? Google_Protobuf_Any(message: details) { status.details.append(any) }
    }
    // The rules of the violations shown first (those of the status's kind), then the others.
    let ordered = all.filter { $0.kind == kind } + all.filter { $0.kind != kind }
    if let any = Google_Rpc_ErrorInfo.packed(rules: ordered.map(\.rule)) { status.details.append(any) }
    return RPCError(code: code, message: description, details: try? status.serializedBytes())
  }
}

extension Refusal {
  public var rpcError: RPCError { Refusals([self]).rpcError }
}
