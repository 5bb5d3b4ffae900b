import SwiftProtobuf

/// A message as plain JSON — what the CLI prints for `-o json` — in the forms its flags take:
/// enum values by their short names, dates as "YYYY-MM-DD", money in yuan ("1800.50") under
/// `<field>_yuan`, int64 as numbers, every field present with its default. Generated for every
/// tuoyu message by protoc-gen-tuoyu (`*.plain.swift`).
public indirect enum PlainJSON: Sendable, Equatable {
  case null
  case bool(Bool)
  case int(Int64)
  case double(Double)
  case string(String)
  case array([PlainJSON])
  /// Keys in the order of the message's fields.
  case object([(String, PlainJSON)])

  public static func yuan(_ fen: Int64) -> PlainJSON { .string(Yuan.string(fen)) }

  /// "" when unset (all zero), else "YYYY-MM-DD" (digits as given, never trapping).
  public static func date(year: Int, month: Int, day: Int) -> PlainJSON {
    if year == 0 && month == 0 && day == 0 { return .string("") }
    func pad(_ n: Int, _ width: Int) -> String {
      let s = String(n.magnitude)
      return (n < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - s.count)) + s
    }
    return .string("\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))")
  }

  public static func == (a: PlainJSON, b: PlainJSON) -> Bool {
    switch (a, b) {
    case (.null, .null): true
    case (.bool(let x), .bool(let y)): x == y
    case (.int(let x), .int(let y)): x == y
    case (.double(let x), .double(let y)): x == y
    case (.string(let x), .string(let y)): x == y
    case (.array(let x), .array(let y)): x == y
    case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    default: false
    }
  }

  /// Compact JSON text (RFC 8259): strings escaped, non-finite doubles as null.
  public func rendered() -> String {
    var out = ""
    render(into: &out)
    return out
  }

  func render(into out: inout String) {
    switch self {
    case .null: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .int(let i): out += String(i)
    case .double(let d):
      if !d.isFinite {
        out += "null"
      } else if d == d.rounded(), abs(d) < 1e15 {
        out += String(Int64(d))
      } else {
        out += "\(d)"
      }
    case .string(let s): Self.quote(s, into: &out)
    case .array(let items):
      out += "["
      for (i, item) in items.enumerated() {
        if i > 0 { out += "," }
        item.render(into: &out)
      }
      out += "]"
    case .object(let fields):
      out += "{"
      for (i, (key, value)) in fields.enumerated() {
        if i > 0 { out += "," }
        Self.quote(key, into: &out)
        out += ":"
        value.render(into: &out)
      }
      out += "}"
    }
  }

  static func quote(_ s: String, into out: inout String) {
    out += "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if u.value < 0x20 || u.value == 0x7F || u.value == 0x2028 || u.value == 0x2029 {
          let hex = String(u.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(u)
        }
      }
    }
    out += "\""
  }
}

/// A message that prints as plain JSON.
public protocol PlainJSONMessage {
  func plainJSON() -> PlainJSON
}

/// An enum whose values have short names (INSTITUTION_STATUS_FILING_SUBMITTED: "filing-submitted").
public protocol PlainJSONEnum: Equatable {
  static var plainNames: [(String, Self)] { get }
}

extension PlainJSONEnum {
  /// The value's short name; "" for the zero value, "unknown-N" for a value this build does not know.
  public var plainName: String {
    if let name = Self.plainNames.first(where: { $0.1 == self })?.0 { return name }
    if let e = self as? any SwiftProtobuf.Enum { return e.rawValue == 0 ? "" : "unknown-\(e.rawValue)" }
    return ""
  }

  public init?(plainName: String) {
    guard let v = Self.plainNames.first(where: { $0.0 == plainName })?.1 else { return nil }
    self = v
  }
}
