import NIOCore
import SwiftProtobuf

let messageAllocator = ByteBufferAllocator()

/// A message's bytes with room for the 5-byte gRPC prefix in front, so that swift-protobuf
/// serializes straight into the buffer that goes on the wire.
struct FramedMessageBytes: SwiftProtobufContiguousBytes {
  var buffer: ByteBuffer

  init(repeating: UInt8, count: Int) {
    buffer = messageAllocator.buffer(capacity: count + 5)
    buffer.writeInteger(UInt8(0))
    buffer.writeInteger(UInt32(truncatingIfNeeded: count))
    buffer.writeRepeatingByte(repeating, count: count)
  }

  init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
    buffer = messageAllocator.buffer(capacity: 5)
    buffer.writeInteger(UInt8(0))
    buffer.writeInteger(UInt32(0))
    let n = buffer.writeBytes(sequence)
    buffer.setInteger(UInt32(truncatingIfNeeded: n), at: buffer.readerIndex + 1)
  }

  var count: Int { buffer.readableBytes - 5 }

  func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try buffer.withUnsafeReadableBytes { try body(UnsafeRawBufferPointer(rebasing: $0[5...])) }
  }

  mutating func withUnsafeMutableBytes<R>(
    _ body: (UnsafeMutableRawBufferPointer) throws -> R
  ) rethrows -> R {
    try buffer.withUnsafeMutableReadableBytes {
      try body(UnsafeMutableRawBufferPointer(rebasing: $0[5...]))
    }
  }
}

/// A received message's bytes, handed to swift-protobuf without copying.
struct MessageBytes: SwiftProtobufContiguousBytes {
  var buffer: ByteBuffer

  init(_ buffer: ByteBuffer) { self.buffer = buffer }

  init(repeating: UInt8, count: Int) {
    buffer = messageAllocator.buffer(capacity: count)
    buffer.writeRepeatingByte(repeating, count: count)
  }

  init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
    buffer = messageAllocator.buffer(capacity: 0)
    buffer.writeBytes(sequence)
  }

  var count: Int { buffer.readableBytes }

  func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try buffer.withUnsafeReadableBytes(body)
  }

  mutating func withUnsafeMutableBytes<R>(
    _ body: (UnsafeMutableRawBufferPointer) throws -> R
  ) rethrows -> R {
    try buffer.withUnsafeMutableReadableBytes(body)
  }
}

enum Codec {
  /// Serializes `message` with its gRPC length prefix.
  static func frame<M: SwiftProtobuf.Message>(_ message: M) throws -> ByteBuffer {
    do {
      let bytes: FramedMessageBytes = try message.serializedBytes()
      return bytes.buffer
    } catch {
      throw RPCError(code: .internal, message: "could not serialize \(M.protoMessageName)")
    }
  }

  /// Decodes one message body; a parse failure is INTERNAL, as gRPC servers report it.
  static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, from buffer: ByteBuffer) throws -> M {
    do {
      return try M(serializedBytes: MessageBytes(buffer))
    } catch {
      throw RPCError(code: .internal, message: "could not parse \(M.protoMessageName)")
    }
  }
}
