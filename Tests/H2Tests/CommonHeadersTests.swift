import Testing

@testable import H2

/// Header bytes decode to the string they spell, whether matched against a literal, stored inline
/// or decoded as received; bytes that are not UTF-8 are repaired, never trusted.
@Suite struct CommonHeadersTests {
  func decode(_ text: [UInt8]) -> String { text.withUnsafeBytes { CommonHeaders.string($0) } }

  @Test(arguments: [
    "application/grpc", "grpc-accept-encoding", "identity,deflate,gzip", "application/grpc+proto", ":path", "te",
    "", "application/grpX", "grpc-accept-encodinG", "application/grpc+json", "x-a-sixteen-char",
    "grpc-python/1.85.1 grpc-c/47.0.0 (linux; chttp2)", "湖州市托育",
  ])
  func decodesTheBytesItIsGiven(text: String) {
    #expect(decode(Array(text.utf8)) == text)
  }

  @Test func invalidUTF8IsRepaired() {
    #expect(decode([0x61, 0xFF, 0x62]) == "a\u{FFFD}b")
    #expect(decode(Array("application/grpc".utf8).dropLast() + [0xC3]) == "application/grp\u{FFFD}")
  }
}
