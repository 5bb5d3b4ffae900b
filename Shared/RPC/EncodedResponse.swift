import NIOCore
import SwiftProtobuf

/// A unary answer as it goes on the wire: a message to encode, or bytes that already are one's
/// encoding (what a service stored, or assembled from stored parts with `EncodedMessageWriter`),
/// sent as they are — no decoding and re-encoding of what the database already holds.
public struct EncodedResponse<M: SwiftProtobuf.Message>: Sendable {
  enum Body: Sendable {
    case message(M)
    case bytes([UInt8])
  }
  let body: Body

  public init(_ message: M) { body = .message(message) }

  /// `bytes` must be an encoding of `M` (the service wrote them from an `M`); they are not checked.
  public init(encoding bytes: [UInt8]) { body = .bytes(bytes) }

  /// The message (decoding the bytes when that is what it holds).
  public func message() throws -> M {
    switch body {
    case .message(let m): return m
    case .bytes(let b): return try M(serializedBytes: b)
    }
  }

  /// The encoding with its 5-byte gRPC prefix.
  func framed() throws -> ByteBuffer {
    switch body {
    case .message(let m):
      return try Codec.frame(m)
    case .bytes(let b):
      var buffer = messageAllocator.buffer(capacity: b.count + 5)
      buffer.writeInteger(UInt8(0))
      buffer.writeInteger(UInt32(truncatingIfNeeded: b.count))
      buffer.writeBytes(b)
      return buffer
    }
  }
}

/// Builds a message's encoding from parts that are encodings already: a repeated message field
/// from stored bytes, a string field. Field numbers are the message's own; a test must compare the
/// result with the same message built by swift-protobuf.
public struct EncodedMessageWriter {
  public private(set) var bytes: [UInt8] = []

  public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

  /// A length-delimited field (a nested message's encoding, bytes).
  public mutating func appendLengthDelimited(field: Int, _ value: [UInt8]) {
    appendVarint(UInt64(field) << 3 | 2)
    appendVarint(UInt64(value.count))
    bytes += value
  }

  /// A string field (left out when empty, as proto3 does).
  public mutating func appendString(field: Int, _ value: String) {
    guard !value.isEmpty else { return }
    appendVarint(UInt64(field) << 3 | 2)
    appendVarint(UInt64(value.utf8.count))
    bytes += value.utf8
  }

  private mutating func appendVarint(_ v: UInt64) {
    var v = v
    while v >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }
}
