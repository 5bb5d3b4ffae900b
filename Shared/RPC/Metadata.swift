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
    if name.hasPrefix(":") { return true }
    switch name {
    case "content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
      "grpc-status", "grpc-message", "grpc-status-details-bin", "content-length":
      return true
    default:
      return false
    }
  }
}
