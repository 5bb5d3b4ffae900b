import Foundation

/// A value that can be bound as a query parameter (sent in text form with its type OID).
public protocol PostgresEncodable: Sendable {
  static var postgresOID: UInt32 { get }
  var postgresText: String { get }
}

/// A value that can be read from a result column.
public protocol PostgresDecodable {
  /// The column types this type reads; anything else is a type mismatch.
  static var acceptedOIDs: Set<UInt32> { get }
  /// Whether this type reads a column of type `oid` (by default: whether `acceptedOIDs` holds it).
  static func accepts(oid: UInt32) -> Bool
  static func decode(postgresText text: String) throws -> Self
  /// Decodes the text form straight from libpq's buffer (by default through a String).
  static func decode(postgresBytes bytes: UnsafeRawBufferPointer) throws -> Self
  /// Decodes the binary form (results asked for with `PostgresQuery.binary()`); by default a
  /// type error.
  static func decode(postgresBinary bytes: UnsafeRawBufferPointer) throws -> Self
  /// The value for SQL NULL; throws unless the type is optional.
  static func decodeNull() throws -> Self
}

extension PostgresDecodable {
  public static func decodeNull() throws -> Self {
    throw PostgresError(.unexpectedNull, "NULL where \(Self.self) was expected")
  }
  public static func accepts(oid: UInt32) -> Bool { acceptedOIDs.contains(oid) }
  public static func decode(postgresBytes bytes: UnsafeRawBufferPointer) throws -> Self {
    try decode(postgresText: String(decoding: bytes, as: UTF8.self))
  }
  public static func decode(postgresBinary bytes: UnsafeRawBufferPointer) throws -> Self {
    throw PostgresError(.typeMismatch, "\(Self.self) is not read from binary results")
  }
}

/// A big-endian integer of 2, 4 or 8 bytes (int2, int4, int8 in binary), refused when it does not
/// fit `T`.
private func binaryInteger<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, _ type: T.Type) throws -> T {
  var value: Int64
  switch bytes.count {
  case 2: value = Int64(Int16(bigEndian: bytes.loadUnaligned(as: Int16.self)))
  case 4: value = Int64(Int32(bigEndian: bytes.loadUnaligned(as: Int32.self)))
  case 8: value = Int64(bigEndian: bytes.loadUnaligned(as: Int64.self))
  default: throw PostgresError(.typeMismatch, "an integer of \(bytes.count) bytes")
  }
  guard let v = T(exactly: value) else { throw PostgresError(.typeMismatch, "\(value) does not fit \(T.self)") }
  return v
}

/// A decimal integer in its text form (an optional sign, then digits), overflow refused.
private func integer<T: FixedWidthInteger & SignedInteger>(_ bytes: UnsafeRawBufferPointer, _ type: T.Type) throws -> T
{
  var i = 0
  var negative = false
  if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
    negative = first == UInt8(ascii: "-")
    i = 1
  }
  guard i < bytes.count else { throw mismatch(String(decoding: bytes, as: UTF8.self), T.self) }
  var value: T = 0
  while i < bytes.count {
    let d = bytes[i] &- 48
    guard d < 10 else { throw mismatch(String(decoding: bytes, as: UTF8.self), T.self) }
    let (m, o1) = value.multipliedReportingOverflow(by: 10)
    let (v, o2) = negative ? m.subtractingReportingOverflow(T(d)) : m.addingReportingOverflow(T(d))
    guard !o1, !o2 else { throw mismatch(String(decoding: bytes, as: UTF8.self), T.self) }
    value = v
    i += 1
  }
  return value
}

public typealias PostgresCodable = PostgresEncodable & PostgresDecodable

/// Type OIDs of the built-in types used here.
public enum PostgresOID {
  public static let bool: UInt32 = 16
  public static let bytea: UInt32 = 17
  public static let name: UInt32 = 19
  public static let int8: UInt32 = 20
  public static let int2: UInt32 = 21
  public static let int4: UInt32 = 23
  public static let text: UInt32 = 25
  public static let oid: UInt32 = 26
  public static let json: UInt32 = 114
  public static let float4: UInt32 = 700
  public static let float8: UInt32 = 701
  public static let unknown: UInt32 = 705
  public static let bpchar: UInt32 = 1042
  public static let varchar: UInt32 = 1043
  public static let date: UInt32 = 1082
  public static let timestamp: UInt32 = 1114
  public static let timestamptz: UInt32 = 1184
  public static let numeric: UInt32 = 1700
  public static let uuid: UInt32 = 2950
  public static let jsonb: UInt32 = 3802
  public static let boolArray: UInt32 = 1000
  public static let int2Array: UInt32 = 1005
  public static let int4Array: UInt32 = 1007
  public static let textArray: UInt32 = 1009
  public static let varcharArray: UInt32 = 1015
  public static let int8Array: UInt32 = 1016
  public static let float8Array: UInt32 = 1022
  public static let uuidArray: UInt32 = 2951
}

private func mismatch<T>(_ text: String, _ type: T.Type) -> PostgresError {
  PostgresError(.typeMismatch, "cannot read \(type) from \(text.prefix(40).debugDescription)")
}

// MARK: Integers, Bool, Double, String

extension Int64: PostgresCodable {
  public static var postgresOID: UInt32 { PostgresOID.int8 }
  public var postgresText: String { String(self) }
  public static var acceptedOIDs: Set<UInt32> {
    [PostgresOID.int2, PostgresOID.int4, PostgresOID.int8, PostgresOID.oid]
  }
  public static func accepts(oid: UInt32) -> Bool {
    oid == PostgresOID.int8 || oid == PostgresOID.int4 || oid == PostgresOID.int2 || oid == PostgresOID.oid
  }
  public static func decode(postgresText text: String) throws -> Int64 {
    guard let v = Int64(text) else { throw mismatch(text, Self.self) }
    return v
  }
  public static func decode(postgresBytes bytes: UnsafeRawBufferPointer) throws -> Int64 {
    try integer(bytes, Int64.self)
  }
  public static func decode(postgresBinary bytes: UnsafeRawBufferPointer) throws -> Int64 {
    try binaryInteger(bytes, Int64.self)
  }
}

extension Int: PostgresCodable {
  public static var postgresOID: UInt32 { PostgresOID.int8 }
  public var postgresText: String { String(self) }
  public static var acceptedOIDs: Set<UInt32> { Int64.acceptedOIDs }
  public static func accepts(oid: UInt32) -> Bool { Int64.accepts(oid: oid) }
  public static func decode(postgresText text: String) throws -> Int {
    guard let v = Int(text) else { throw mismatch(text, Self.self) }
    return v
  }
  public static func decode(postgresBytes bytes: UnsafeRawBufferPointer) throws -> Int {
    try integer(bytes, Int.self)
  }
  public static func decode(postgresBinary bytes: UnsafeRawBufferPointer) throws -> Int {
    try binaryInteger(bytes, Int.self)
  }
}

extension Int32: PostgresCodable {
  public static var postgresOID: UInt32 { PostgresOID.int4 }
  public var postgresText: String { String(self) }
  public static var acceptedOIDs: Set<UInt32> { [PostgresOID.int2, PostgresOID.int4] }
  public static func accepts(oid: UInt32) -> Bool { oid == PostgresOID.int4 || oid == PostgresOID.int2 }
  public static func decode(postgresText text: String) throws -> Int32 {
    guard let v = Int32(text) else { throw mismatch(text, Self.self) }
    return v
  }
  public static func decode(postgresBytes bytes: UnsafeRawBufferPointer) throws -> Int32 {
    try integer(bytes, Int32.self)
  }
  public static func decode(postgresBinary bytes: UnsafeRawBufferPointer) throws -> Int32 {
    try binaryInteger(bytes, Int32.self)
  }
}

extension Bool: PostgresCodable {
  public static var postgresOID: UInt32 { PostgresOID.bool }
  public var postgresText: String { self ? "t" : "f" }
  public static var acceptedOIDs: Set<UInt32> { [PostgresOID.bool] }
  public static func accepts(oid: UInt32) -> Bool { oid == PostgresOID.bool }
  public static func decode(postgresBytes bytes: UnsafeRawBufferPointer) throws -> Bool {
    if bytes.count == 1 && bytes[0] == UInt8(ascii: "t") { return true }
    if bytes.count == 1 && bytes[0] == UInt8(ascii: "f") { return false }
    return try decode(postgresText: String(decoding: bytes, as: UTF8.self))
  }
  public static func decode(postgresBinary bytes: UnsafeRawBufferPointer) throws -> Bool {
    guard bytes.count == 1 else { throw PostgresError(.typeMismatch, "a bool of \(bytes.count) bytes") }
    return bytes[0] != 0
  }
  public static func decode(postgresText text: String) throws -> Bool {
    switch text {
    case "t", "true": return true
    case "f", "false": return false
    default: throw mismatch(text, Self.self)
    }
  }
}

extension Double: PostgresCodable {
  public static var postgresOID: UInt32 { PostgresOID.float8 }
  public var postgresText: String {
    isNaN ? "NaN" : isInfinite ? (self > 0 ? "Infinity" : "-Infinity") : "\(self)"
  }
  public static var acceptedOIDs: Set<UInt32> { [PostgresOID.float4, PostgresOID.float8, PostgresOID.numeric] }
  public static func decode(postgresText text: String) throws -> Double {
    guard let v = Double(text) else { throw mismatch(text, Self.self) }
    return v
  }
}

extension String: PostgresCodable {
  public static var postgresOID: UInt32 { PostgresOID.text }
  public var postgresText: String { self }
  public static var acceptedOIDs: Set<UInt32> {
    [PostgresOID.text, PostgresOID.varchar, PostgresOID.bpchar, PostgresOID.name, PostgresOID.unknown]
  }
  public static func accepts(oid: UInt32) -> Bool {
    oid == PostgresOID.text || oid == PostgresOID.varchar || oid == PostgresOID.bpchar || oid == PostgresOID.name
      || oid == PostgresOID.unknown
  }
  public static func decode(postgresText text: String) throws -> String { text }
  public static func decode(postgresBytes bytes: UnsafeRawBufferPointer) throws -> String {
    String(decoding: bytes, as: UTF8.self)
  }
  /// text, varchar, bpchar and name are their UTF-8 bytes in binary too.
  public static func decode(postgresBinary bytes: UnsafeRawBufferPointer) throws -> String {
    String(decoding: bytes, as: UTF8.self)
  }
}

// MARK: UUID, bytes, JSON

extension UUID: PostgresCodable {
  public static var postgresOID: UInt32 { PostgresOID.uuid }
  public var postgresText: String { uuidString.lowercased() }
  public static var acceptedOIDs: Set<UInt32> { [PostgresOID.uuid] }
  public static func decode(postgresText text: String) throws -> UUID {
    guard let v = UUID(uuidString: text) else { throw mismatch(text, Self.self) }
    return v
  }
}

/// bytea.
public struct PostgresBytes: PostgresCodable, Hashable {
  public var bytes: [UInt8]
  public init(_ bytes: [UInt8]) { self.bytes = bytes }

  public static var postgresOID: UInt32 { PostgresOID.bytea }
  public var postgresText: String {
    let hex = Array("0123456789abcdef".utf8)
    var out = [UInt8](repeating: 0, count: 2 + bytes.count * 2)
    out[0] = UInt8(ascii: "\\")
    out[1] = UInt8(ascii: "x")
    for (i, b) in bytes.enumerated() {
      out[2 + 2 * i] = hex[Int(b >> 4)]
      out[3 + 2 * i] = hex[Int(b & 0xF)]
    }
    return String(decoding: out, as: UTF8.self)
  }
  public static var acceptedOIDs: Set<UInt32> { [PostgresOID.bytea] }
  public static func accepts(oid: UInt32) -> Bool { oid == PostgresOID.bytea }
  public static func decode(postgresText text: String) throws -> PostgresBytes {
    var text = text
    return try text.withUTF8 { try decode(postgresBytes: UnsafeRawBufferPointer($0)) }
  }
  /// The binary form: the bytes themselves.
  public static func decode(postgresBinary bytes: UnsafeRawBufferPointer) throws -> PostgresBytes {
    PostgresBytes([UInt8](bytes))
  }
  /// The hex form (`\\x…`), decoded without an intermediate copy.
  public static func decode(postgresBytes u: UnsafeRawBufferPointer) throws -> PostgresBytes {
    guard u.count >= 2, u[0] == UInt8(ascii: "\\"), u[1] == UInt8(ascii: "x"), u.count % 2 == 0 else {
      throw mismatch(String(decoding: u.prefix(40), as: UTF8.self), Self.self)
    }
    func nibble(_ c: UInt8) -> UInt8 {
      switch c {
      case 48...57: return c - 48
      case 97...102: return c - 87
      case 65...70: return c - 55
      default: return 0xFF
      }
    }
    var bad = false
    let bytes = [UInt8](unsafeUninitializedCapacity: (u.count - 2) / 2) { out, initialized in
      var i = 2
      var o = 0
      while i < u.count {
        let high = nibble(u[i])
        let low = nibble(u[i + 1])
        if high | low > 0xF { bad = true }
        out[o] = high << 4 | (low & 0xF)
        i += 2
        o += 1
      }
      initialized = o
    }
    if bad { throw mismatch(String(decoding: u.prefix(40), as: UTF8.self), Self.self) }
    return PostgresBytes(bytes)
  }
}

/// jsonb, carried as its JSON text.
public struct PostgresJSON: PostgresCodable, Hashable {
  public var text: String
  public init(_ text: String) { self.text = text }

  /// Encodes `value` with JSONEncoder (sorted keys, so equal values give equal text).
  public init<T: Encodable>(encoding value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
  }

  public func decode<T: Decodable>(_ type: T.Type) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(text.utf8))
  }

  public static var postgresOID: UInt32 { PostgresOID.jsonb }
  public var postgresText: String { text }
  public static var acceptedOIDs: Set<UInt32> { [PostgresOID.jsonb, PostgresOID.json] }
  public static func decode(postgresText text: String) throws -> PostgresJSON { PostgresJSON(text) }
}

// MARK: Optional

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
  public static var acceptedOIDs: Set<UInt32> { Wrapped.acceptedOIDs }
  public static func accepts(oid: UInt32) -> Bool { Wrapped.accepts(oid: oid) }
  public static func decode(postgresText text: String) throws -> Wrapped? {
    try Wrapped.decode(postgresText: text)
  }
  public static func decode(postgresBytes bytes: UnsafeRawBufferPointer) throws -> Wrapped? {
    try Wrapped.decode(postgresBytes: bytes)
  }
  public static func decode(postgresBinary bytes: UnsafeRawBufferPointer) throws -> Wrapped? {
    try Wrapped.decode(postgresBinary: bytes)
  }
  public static func decodeNull() throws -> Wrapped? { nil }
}
