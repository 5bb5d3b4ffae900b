/// gRPC custom metadata: ordered key/value pairs; keys ending in `-bin` carry binary values,
/// sent base64-encoded.
public struct Metadata: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
  public enum Content: Sendable, Hashable {
    case string(String)
    case binary([UInt8])
  }

  public struct Element: Sendable, Hashable {
    public var key: String
    public var value: Content
  }

  var elements: [Element] = []

  public init() {}

  public init(dictionaryLiteral elements: (String, String)...) {
    for (k, v) in elements { addString(v, forKey: k) }
  }

  public var count: Int { elements.count }
  public var isEmpty: Bool { elements.isEmpty }

  public func makeIterator() -> IndexingIterator<[Element]> { elements.makeIterator() }

  public mutating func addString(_ value: String, forKey key: String) {
    elements.append(Element(key: key.lowercased(), value: .string(value)))
  }

  public mutating func addBinary(_ value: [UInt8], forKey key: String) {
    elements.append(Element(key: key.lowercased(), value: .binary(value)))
  }

  public mutating func removeAll(forKey key: String) {
    let key = key.lowercased()
    elements.removeAll { $0.key == key }
  }

  /// The string values under `key`.
  public subscript(stringValues key: String) -> [String] {
    let key = key.lowercased()
    return elements.compactMap {
      guard $0.key == key, case .string(let s) = $0.value else { return nil }
      return s
    }
  }

  /// The binary values under `key`.
  public subscript(binaryValues key: String) -> [[UInt8]] {
    let key = key.lowercased()
    return elements.compactMap {
      guard $0.key == key, case .binary(let b) = $0.value else { return nil }
      return b
    }
  }

  /// The first string value under `key`.
  public func first(_ key: String) -> String? { self[stringValues: key].first }

  /// Header names that carry the protocol itself and never appear as metadata.
  static func isReserved(_ name: String) -> Bool {
    if name.utf8.first == UInt8(ascii: ":") { return true }
    switch name {
    case "content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
      "grpc-status", "grpc-message", "grpc-status-details-bin", "content-length":
      return true
    default:
      return false
    }
  }
}

extension Metadata {
  /// Why a key or value cannot travel as gRPC metadata, nil when it can. Keys: lower-case
  /// letters, digits, `-`, `_`, `.` (HTTP/2 and the gRPC spec); text values: printable ASCII
  /// and space, no leading or trailing whitespace; binary values (`-bin` keys) any bytes.
  public static func problem(key: String, value: Content) -> String? {
    let k = Array(key.utf8)
    if k.isEmpty { return "an empty key" }
    if let bad = k.firstIndex(where: {
      !(($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E)
    }) {
      return "the key holds byte 0x\(String(k[bad], radix: 16)) at \(bad) (lower-case letters, digits, - _ . only)"
    }
    guard case .string(let text) = value else { return nil }
    if key.hasSuffix("-bin") { return nil }
    let v = Array(text.utf8)
    if let bad = v.firstIndex(where: { $0 < 0x20 || $0 > 0x7E }) {
      let hint = v[bad] == 0x0A || v[bad] == 0x0D ? " (a line break: a token read from a file with its newline?)" : ""
      return "the value holds byte 0x\(String(v[bad], radix: 16)) at \(bad); a value is printable ASCII\(hint)"
    }
    if v.first == 0x20 || v.last == 0x20 { return "the value starts or ends with a space" }
    return nil
  }

  /// A key as shown in an error: at most 40 characters, controls escaped.
  static func shown(_ key: String) -> String {
    let clipped = key.unicodeScalars.prefix(40).map { $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0) }.joined()
    return "\"" + clipped + (key.unicodeScalars.count > 40 ? "…" : "") + "\""
  }
}
