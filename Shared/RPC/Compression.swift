import CZlib
import NIOCore

/// A gRPC message encoding other than identity (`grpc-encoding`): gzip (RFC 1952) or deflate
/// (the zlib format, RFC 1950, as gRPC means it).
public enum MessageEncoding: String, Sendable, CaseIterable {
  case gzip, deflate

  /// What we accept, as `grpc-accept-encoding` says it.
  public static let acceptHeader = "gzip,deflate"

  /// The encodings a `grpc-accept-encoding` value names, in its order (unknown ones left out).
  @_spi(Fuzzing) public static func accepted(_ header: String?) -> [MessageEncoding] {
    guard let header else { return [] }
    return header.split(separator: ",").compactMap {
      MessageEncoding(rawValue: $0.trimmingCharacters(in: .whitespaces).lowercased())
    }
  }

  var windowBits: Int32 {
    switch self {
    case .gzip: 15 + 16
    case .deflate: 15
    }
  }
}

@_spi(Fuzzing) public enum Compression {
  public struct TooLarge: Error {}
  public struct Corrupt: Error {}

  /// `frame` (a gRPC message with its 5-byte prefix, uncompressed) compressed with `encoding`,
  /// flag 1; the frame as it is if zlib fails.
  public static func compressFrame(_ frame: ByteBuffer, _ encoding: MessageEncoding) -> ByteBuffer {
    frame.withUnsafeReadableBytes { all -> ByteBuffer in
      let body = UnsafeRawBufferPointer(rebasing: all[5...])
      var strm = z_stream()
      guard tuoyu_deflate_init(&strm, encoding.windowBits) == Z_OK else { return frame }
      defer { deflateEnd(&strm) }
      let bound = Int(deflateBound(&strm, uLong(body.count))) + 32
      var out = messageAllocator.buffer(capacity: bound + 5)
      out.writeInteger(UInt8(1))
      out.writeInteger(UInt32(0))
      let written: Int? = out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { dst in
        strm.next_in = UnsafeMutablePointer(mutating: body.bindMemory(to: Bytef.self).baseAddress)
        strm.avail_in = uInt(body.count)
        strm.next_out = dst.bindMemory(to: Bytef.self).baseAddress
        strm.avail_out = uInt(dst.count)
        let rv = deflate(&strm, Z_FINISH)
        return rv == Z_STREAM_END ? dst.count - Int(strm.avail_out) : 0
      }
      guard let written, written > 0 else { return frame }
      out.setInteger(UInt32(written), at: out.readerIndex + 1)
      return out
    }
  }

  /// A compressed message body inflated (gzip or zlib alike), refusing to grow past `limit`
  /// bytes (a zip bomb stops there, unread).
  public static func decompress(_ body: ByteBuffer, limit: Int) throws -> ByteBuffer {
    try body.withUnsafeReadableBytes { input -> ByteBuffer in
      var strm = z_stream()
      guard tuoyu_inflate_init(&strm, 15 + 32) == Z_OK else { throw Corrupt() }
      defer { inflateEnd(&strm) }
      strm.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
      strm.avail_in = uInt(input.count)
      var out = messageAllocator.buffer(capacity: min(max(input.count * 4, 256), limit + 1))
      while true {
        let room = min(max(out.capacity - out.writerIndex, 16 << 10), limit + 1 - out.readableBytes)
        guard room > 0 else { throw TooLarge() }
        var rv: Int32 = Z_OK
        _ = out.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { dst in
          strm.next_out = dst.bindMemory(to: Bytef.self).baseAddress
          strm.avail_out = uInt(min(dst.count, room))
          let before = Int(strm.avail_out)
          rv = inflate(&strm, Z_NO_FLUSH)
          return before - Int(strm.avail_out)
        }
        if out.readableBytes > limit { throw TooLarge() }
        if rv == Z_STREAM_END {
          // Anything after the end of the compressed data is not part of the message.
          guard strm.avail_in == 0 else { throw Corrupt() }
          return out
        }
        guard rv == Z_OK else { throw Corrupt() }
        if strm.avail_in == 0 && strm.avail_out > 0 { throw Corrupt() }  // truncated
      }
    }
  }
}
