/// Header names and values decoded from nghttp2's bytes. Up to 15 bytes a Swift string is stored
/// inline, so decoding allocates nothing and no table is needed; the longer ones that every gRPC
/// call carries are matched against their literals (immortal strings, no allocation either) and
/// anything else is decoded as received.
enum CommonHeaders {
  static func string(_ bytes: UnsafeRawBufferPointer) -> String {
    switch bytes.count {
    case 16 where matches(bytes, "application/grpc"): return "application/grpc"
    case 20 where matches(bytes, "grpc-accept-encoding"): return "grpc-accept-encoding"
    case 21 where matches(bytes, "identity,deflate,gzip"): return "identity,deflate,gzip"
    case 22 where matches(bytes, "application/grpc+proto"): return "application/grpc+proto"
    default: return String(decoding: bytes, as: UTF8.self)
    }
  }

  @inline(__always)
  private static func matches(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
    memcmp(literal.utf8Start, bytes.baseAddress!, literal.utf8CodeUnitCount) == 0
  }
}

#if canImport(Glibc)
  import Glibc
#endif
