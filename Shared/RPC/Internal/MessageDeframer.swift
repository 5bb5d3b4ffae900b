import NIOCore

/// Splits the bytes of DATA frames into gRPC length-prefixed messages, which may span frames or
/// share one. Refuses a message above the size limit from its prefix alone, before buffering it.
@_spi(Fuzzing) public struct MessageDeframer {
  public enum Failure: Error, Equatable {
    case tooLarge(Int)
    case compressed
  }

  public let maxMessageSize: Int
  private var buffer: ByteBuffer?
  /// Whether the stream declared an encoding, so that compressed messages (flag 1) may come.
  public var allowCompressed = false
  /// Whether the message `next()` returned last was compressed.
  public private(set) var lastCompressed = false

  public init(maxMessageSize: Int) {
    self.maxMessageSize = maxMessageSize
  }

  /// Whether a message has begun but not ended.
  public var hasPartialMessage: Bool { (buffer?.readableBytes ?? 0) > 0 }

  public mutating func append(_ data: ByteBuffer) {
    if buffer == nil || buffer!.readableBytes == 0 {
      buffer = data
    } else {
      var data = data
      buffer!.writeBuffer(&data)
    }
  }

  /// The next complete message body, nil when more bytes are needed.
  public mutating func next() throws(Failure) -> ByteBuffer? {
    guard var b = buffer, b.readableBytes >= 5 else { return nil }
    let flag: UInt8 = b.getInteger(at: b.readerIndex)!
    let length = Int(b.getInteger(at: b.readerIndex + 1, as: UInt32.self)!)
    if length > maxMessageSize { throw .tooLarge(length) }
    if flag & 1 != 0 && !allowCompressed { throw .compressed }
    guard b.readableBytes >= 5 + length else { return nil }
    lastCompressed = flag & 1 != 0
    b.moveReaderIndex(forwardBy: 5)
    let message = b.readSlice(length: length)!
    buffer = b.readableBytes == 0 ? nil : b
    return message
  }
}
