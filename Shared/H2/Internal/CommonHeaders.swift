/// Strings for the header names and values every gRPC request carries, so that decoding them
/// allocates nothing; anything else is decoded as received.
enum CommonHeaders {
  private static let table: [[String]] = {
    let common = [
      ":method", ":path", ":scheme", ":authority", ":status", "content-type", "te", "user-agent",
      "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "grpc-status", "grpc-message",
      "authorization", "POST", "http", "https", "trailers", "application/grpc",
      "application/grpc+proto", "200", "0", "identity", "identity,deflate,gzip", "gzip",
    ]
    var byLength = [[String]](repeating: [], count: 32)
    for s in common { byLength[s.utf8.count].append(s) }
    return byLength
  }()

  static func string(_ bytes: UnsafeRawBufferPointer) -> String {
    if bytes.count < table.count {
      for candidate in table[bytes.count] {
        var candidate = candidate
        let equal = candidate.withUTF8 { c in
          c.count == 0 || memcmp(c.baseAddress!, bytes.baseAddress!, c.count) == 0
        }
        if equal { return candidate }
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

#if canImport(Glibc)
  import Glibc
#endif
