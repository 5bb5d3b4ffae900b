/// One HTTP/2 header field, as received or to be sent. Names are lower-case on the wire.
public struct H2Header: Sendable, Hashable {
  public var name: String
  public var value: String

  public init(_ name: String, _ value: String) {
    self.name = name
    self.value = value
  }
}

extension Array where Element == H2Header {
  /// The value of the first field named `name`, if any.
  public func first(named name: String) -> String? {
    for h in self where h.name == name { return h.value }
    return nil
  }
}
