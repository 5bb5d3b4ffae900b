import Foundation

/// An element type of a one-dimensional SQL array.
public protocol PostgresArrayElement: PostgresCodable {
  static var postgresArrayOID: UInt32 { get }
}

extension Int64: PostgresArrayElement { public static var postgresArrayOID: UInt32 { PostgresOID.int8Array } }
extension Int: PostgresArrayElement { public static var postgresArrayOID: UInt32 { PostgresOID.int8Array } }
extension Int32: PostgresArrayElement { public static var postgresArrayOID: UInt32 { PostgresOID.int4Array } }
extension Bool: PostgresArrayElement { public static var postgresArrayOID: UInt32 { PostgresOID.boolArray } }
extension Double: PostgresArrayElement { public static var postgresArrayOID: UInt32 { PostgresOID.float8Array } }
extension String: PostgresArrayElement { public static var postgresArrayOID: UInt32 { PostgresOID.textArray } }
extension UUID: PostgresArrayElement { public static var postgresArrayOID: UInt32 { PostgresOID.uuidArray } }

extension Array: PostgresEncodable where Element: PostgresArrayElement {
  public static var postgresOID: UInt32 { Element.postgresArrayOID }
  public var postgresText: String {
    "{" + map { Self.quote($0.postgresText) }.joined(separator: ",") + "}"
  }

  static func quote(_ s: String) -> String {
    var out = "\""
    for c in s {
      if c == "\"" || c == "\\" { out.append("\\") }
      out.append(c)
    }
    return out + "\""
  }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
  public static var acceptedOIDs: Set<UInt32> {
    switch Element.postgresArrayOID {
    case PostgresOID.int8Array: [PostgresOID.int8Array, PostgresOID.int4Array, PostgresOID.int2Array]
    case PostgresOID.textArray: [PostgresOID.textArray, PostgresOID.varcharArray]
    default: [Element.postgresArrayOID]
    }
  }

  /// Parses a one-dimensional array literal `{a,"b c",NULL}`; NULL elements are refused.
  public static func decode(postgresText text: String) throws -> [Element] {
    let bad = PostgresError(.typeMismatch, "cannot read [\(Element.self)] from \(text.prefix(40).debugDescription)")
    var chars = Substring(text)
    guard chars.first == "{", chars.last == "}" else { throw bad }
    chars = chars.dropFirst().dropLast()
    var items: [Element] = []
    var i = chars.startIndex
    if chars.isEmpty { return [] }
    while i <= chars.endIndex {
      var item = ""
      var quoted = false
      if i < chars.endIndex && chars[i] == "\"" {
        quoted = true
        i = chars.index(after: i)
        while i < chars.endIndex && chars[i] != "\"" {
          if chars[i] == "\\" { i = chars.index(after: i) }
          guard i < chars.endIndex else { throw bad }
          item.append(chars[i])
          i = chars.index(after: i)
        }
        guard i < chars.endIndex else { throw bad }
        i = chars.index(after: i)
      } else {
        while i < chars.endIndex && chars[i] != "," {
          item.append(chars[i])
          i = chars.index(after: i)
        }
      }
      if !quoted && item == "NULL" {
        throw PostgresError(.unexpectedNull, "NULL element in an array of \(Element.self)")
      }
      items.append(try Element.decode(postgresText: item))
      if i == chars.endIndex { break }
      guard chars[i] == "," else { throw bad }
      i = chars.index(after: i)
    }
    return items
  }
}
