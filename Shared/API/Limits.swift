import Foundation
import RPC
import SwiftProtobuf

// The runtime of the request limits declared in the contract (`tuoyu/common/v1/limits.proto`).
// protoc-gen-tuoyu generates an `applyLimits(_:)` for every message a request can carry; the
// generated router registration runs it before the handler, and a handler of a client stream
// runs it on each message it reads.

/// One field that breaks its declared limit.
public struct FieldViolation: Sendable, Hashable, CustomStringConvertible {
  /// The field's path in the request, e.g. `facts.seats.infant.seats` or `years[2].population`.
  public var field: String
  /// e.g. `limits.length`, `limits.characters`, `limits.range`, `limits.items`, `limits.enum`.
  public var rule: String
  public var message: String

  public init(field: String, rule: String, message: String) {
    self.field = field
    self.rule = rule
    self.message = message
  }

  public var description: String { "\(field): \(message) (rule \(rule))" }
}

/// The characters a string may hold (`tuoyu.common.v1.TextKind`).
public enum TextKind: Sendable {
  case line, paragraph, digits, upperAlnum, token, phone, base64

  var isASCIIOnly: Bool {
    switch self {
    case .line, .paragraph: false
    default: true
    }
  }

  var allowed: String {
    switch self {
    case .line: "one line of text without control characters"
    case .paragraph: "text without control characters other than line feed and tab"
    case .digits: "ASCII digits only"
    case .upperAlnum: "ASCII capital letters and digits only"
    case .token: "ASCII letters, digits and - _ . : / only"
    case .phone: "ASCII digits, + and - only"
    case .base64: "ASCII letters, digits and + / = - _ only"
    }
  }

  func allows(byte b: UInt8) -> Bool {
    switch self {
    case .digits: return b >= 0x30 && b <= 0x39
    case .upperAlnum: return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A)
    case .token:
      return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        || b == 0x2D || b == 0x5F || b == 0x2E || b == 0x3A || b == 0x2F
    case .phone: return (b >= 0x30 && b <= 0x39) || b == 0x2B || b == 0x2D
    case .base64:
      return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        || b == 0x2B || b == 0x2F || b == 0x3D || b == 0x2D || b == 0x5F
    case .line: return b >= 0x20 && b != 0x7F
    case .paragraph: return (b >= 0x20 && b != 0x7F) || b == 0x0A || b == 0x09
    }
  }

  /// Whether a non-ASCII scalar is allowed in people's text: no C1 controls, line or paragraph
  /// separators, bidirectional controls, byte-order marks or noncharacters.
  static func allowsText(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x80...0x9F, 0x2028, 0x2029, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0xFEFF,
      0xFFF9...0xFFFB, 0xFFFE, 0xFFFF, 0xFDD0...0xFDEF:
      return false
    default:
      return s.value & 0xFFFE != 0xFFFE
    }
  }
}

/// Collects the violations of one message (and the messages in it), with each field's path.
public struct LimitCheck: Sendable {
  /// At most this many violations are reported; the rest are counted.
  public static let reportLimit = 20

  public private(set) var violations: [FieldViolation] = []
  public private(set) var unreported = 0
  /// The fields being checked, outermost first (joined only when a violation names them).
  private var path: [(field: String, index: Int?)] = []

  public init() {}

  private func name(_ field: String) -> String {
    if path.isEmpty { return field }
    return path.map { p in p.index.map { "\(p.field)[\($0)]" } ?? p.field }.joined(separator: ".") + "." + field
  }

  private mutating func add(_ field: String, _ rule: String, _ message: String) {
    if violations.count < Self.reportLimit {
      violations.append(FieldViolation(field: name(field), rule: rule, message: message))
    } else {
      unreported += 1
    }
  }

  /// Checks the fields of a message inside `field` (index for a repeated field).
  /// Checks the fields of a message inside `field` (index for a repeated field); `store` gets the
  /// message back only when its text was normalised. (Messages are changed only then: writing a
  /// nested message back copies its storage.)
  public mutating func nested<M: LimitedMessage>(
    _ message: M, _ field: String, index: Int? = nil, store: (M) -> Void
  ) {
    path.append((field, index))
    let before = changes
    var m = message
    m.applyLimits(&self)
    if changes != before { store(m) }
    path.removeLast()
  }

  /// How many strings were normalised so far.
  public private(set) var changes = 0

  /// Checks a string — its characters, then its length — and returns it normalised (people's
  /// text: NFC, and trimmed for one line) when that changes it, nil when it stays as it is.
  public mutating func text(_ original: String, _ field: String, kind: TextKind, min: Int, max: Int) -> String? {
    var value = original
    guard check(&value, field, kind: kind, min: min, max: max) else { return nil }
    changes += 1
    return value
  }

  /// The bytes of `s`: whether all are ASCII, and whether all ASCII ones are allowed by `kind`.
  private static func scan(_ s: String, _ kind: TextKind) -> (ascii: Bool, allowed: Bool) {
    func run(_ bytes: some Sequence<UInt8>) -> (Bool, Bool) {
      var ascii = true
      for b in bytes {
        if b >= 0x80 {
          ascii = false
        } else if !kind.allows(byte: b) {
          return (ascii, false)
        }
      }
      return (ascii, true)
    }
    return s.utf8.withContiguousStorageIfAvailable { run($0) } ?? run(s.utf8)
  }

  /// Checks `value`, normalising people's text in place; true when it changed it.
  private mutating func check(_ value: inout String, _ field: String, kind: TextKind, min: Int, max: Int) -> Bool {
    // Bounded work whatever the input: more bytes than `max` scalars can take is refused unread.
    if value.utf8.count > max * 4 {
      add(field, "limits.length", "at most \(max) characters")
      return false
    }
    let (ascii, allowed) = Self.scan(value, kind)
    if !allowed || (!ascii && kind.isASCIIOnly) {
      add(field, "limits.characters", kind.allowed)
      return false
    }
    var changed = false
    var count = value.utf8.count
    if !ascii {
      // One pass: every scalar allowed, counted, and whether all are ones NFC leaves as they are.
      var stable = true
      count = 0
      for scalar in value.unicodeScalars {
        guard TextKind.allowsText(scalar) else {
          add(field, "limits.characters", kind.allowed)
          return false
        }
        if stable && !Self.isNFCStable(scalar) { stable = false }
        count += 1
      }
      if !stable {
        let normalised = value.precomposedStringWithCanonicalMapping
        // (String's == is canonical equivalence: compare the bytes.)
        if !normalised.utf8.elementsEqual(value.utf8) {
          value = normalised
          count = value.unicodeScalars.count
          changed = true
        }
      }
    }
    if kind == .line, let first = value.unicodeScalars.first, let last = value.unicodeScalars.last,
      first.properties.isWhitespace || last.properties.isWhitespace
    {
      value = Self.trimmed(value)
      count = value.unicodeScalars.count
      changed = true
    }
    if count > max {
      add(field, "limits.length", "at most \(max) characters")
    } else if count < min {
      add(field, "limits.length", min == 1 ? "is required" : "at least \(min) characters")
    } else if min > 0, kind == .line || kind == .paragraph,
      value.unicodeScalars.allSatisfy(\.properties.isWhitespace)
    {
      add(field, "limits.blank", "is required (not only spaces)")
    }
    return changed
  }

  /// Whether a string made only of such scalars is already in NFC whatever their order: ASCII,
  /// Latin-1, general punctuation, CJK symbols (without the combining tone marks), the CJK
  /// unified ideographs and the full-width forms — none decomposes, combines or reorders. The
  /// common case (Chinese names and addresses) is checked without normalising.
  static func isNFCStable(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x00...0xFF, 0x2010...0x2027, 0x3000...0x3029, 0x3030...0x303F, 0x4E00...0x9FFF, 0xFF01...0xFF5E: true
    default: false
    }
  }

  /// Leading and trailing white space (also the ideographic space) removed.
  static func trimmed(_ s: String) -> String {
    let scalars = s.unicodeScalars
    guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
    let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
    if first == scalars.startIndex && last == scalars.index(before: scalars.endIndex) { return s }
    return String(scalars[first...last])
  }

  public mutating func range<T: BinaryInteger>(_ value: T, _ field: String, min: Int64, max: Int64) {
    let v = Int64(clamping: value)
    if v < min || v > max { add(field, "limits.range", "must be \(min)–\(max)") }
  }

  public mutating func range(_ value: Double, _ field: String, min: Int64, max: Int64) {
    if !value.isFinite || value < Double(min) || value > Double(max) {
      add(field, "limits.range", "must be a finite number \(min)–\(max)")
    }
  }

  public mutating func byteCount(_ count: Int, _ field: String, max: Int) {
    if count > max { add(field, "limits.length", "at most \(max) bytes") }
  }

  public mutating func items(_ count: Int, _ field: String, max: Int) {
    if count > max { add(field, "limits.items", "at most \(max) items") }
  }

  public mutating func required(_ field: String) {
    add(field, "limits.required", "is required")
  }

  public mutating func unknownEnum(_ field: String, _ raw: Int) {
    add(field, "limits.enum", "\(raw) is not one of the declared values")
  }

  /// The violations as one error, or nil when there are none.
  public var error: LimitViolations? {
    violations.isEmpty ? nil : LimitViolations(violations, unreported: unreported)
  }
}

/// A message whose declared limits can be checked (generated conformances).
public protocol LimitedMessage: SwiftProtobuf.Message {
  /// Checks every field against its declared limits, normalising people's text (NFC, trimmed).
  mutating func applyLimits(_ check: inout LimitCheck)
}

extension LimitedMessage {
  /// Normalises and checks the message; throws every violation as INVALID_ARGUMENT.
  public mutating func checkLimits() throws(LimitViolations) {
    var check = LimitCheck()
    applyLimits(&check)
    if let error = check.error { throw error }
  }

  /// Normalises and checks the message; the violations, empty when it keeps its limits.
  public mutating func limitViolations() -> [FieldViolation] {
    var check = LimitCheck()
    applyLimits(&check)
    return check.violations
  }
}

/// The fields of a request that break their declared limits: INVALID_ARGUMENT with a
/// `google.rpc.BadRequest` naming each.
public struct LimitViolations: RPCErrorConvertible, Sendable, CustomStringConvertible {
  public let violations: [FieldViolation]
  public let unreported: Int

  public init(_ violations: [FieldViolation], unreported: Int = 0) {
    precondition(!violations.isEmpty)
    self.violations = violations
    self.unreported = unreported
  }

  public var description: String {
    let more = violations.count + unreported - 1
    return violations[0].description + (more > 0 ? " (and \(more) more)" : "")
  }

  public var rpcError: RPCError {
    var status = Google_Rpc_Status()
    status.code = Int32(Status.Code.invalidArgument.rawValue)
    status.message = description
    if let any = Google_Rpc_BadRequest.packed(violations) { status.details.append(any) }
    if let any = Google_Rpc_ErrorInfo.packed(rules: violations.map(\.rule)) { status.details.append(any) }
    return RPCError(code: .invalidArgument, message: description, details: try? status.serializedBytes())
  }
}

extension Google_Rpc_ErrorInfo {
  /// The machine-readable reason of a refusal: the first rule, every rule in `metadata["rules"]`.
  public static func packed(rules: [String]) -> Google_Protobuf_Any? {
    var seen = Set<String>()
    let unique = rules.filter { !$0.isEmpty && seen.insert($0).inserted }
    guard let first = unique.first else { return nil }
    let info = Google_Rpc_ErrorInfo.with {
      $0.reason = first
      $0.domain = "tuoyu"
      $0.metadata = ["rules": unique.joined(separator: ",")]
    }
    return try? Google_Protobuf_Any(message: info)
  }
}

extension Google_Rpc_BadRequest {
  /// A `BadRequest` naming each violation (`message (rule …)`), packed for `google.rpc.Status`.
  public static func packed(_ violations: [API.FieldViolation]) -> Google_Protobuf_Any? {
    let details = Google_Rpc_BadRequest.with {
      $0.fieldViolations = violations.map { v in
        .with {
          $0.field = v.field
          $0.description_p = "\(v.message) (rule \(v.rule))"
        }
      }
    }
    return try? Google_Protobuf_Any(message: details)
  }
}

/// Text made safe to show — in an error message, a log line or a terminal: control characters
/// (C0, DEL, C1), separators, bidirectional controls, byte-order marks and noncharacters are
/// written as `\u{…}` escapes, so no data can move a cursor or reorder what is shown.
public enum DisplayText {
  public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || scalar.value == 0x7F || !TextKind.allowsText(scalar)
  }

  /// `s` escaped, cut to `max` characters (with an ellipsis) when given.
  public static func escaped(_ s: String, max: Int? = nil) -> String {
    if max == nil, !s.unicodeScalars.contains(where: isUnsafe) { return s }
    var out = ""
    var n = 0
    for scalar in s.unicodeScalars {
      if let max, n == max {
        out += "…"
        break
      }
      n += 1
      if isUnsafe(scalar) {
        out += "\\u{\(String(scalar.value, radix: 16))}"
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
    return out
  }
}

/// Text from a request quoted in an error message: at most `max` characters, escaped
/// (`DisplayText`), an ellipsis when cut.
public func quoted(_ s: String, max: Int = 40) -> String {
  "\"" + DisplayText.escaped(s, max: max) + "\""
}
