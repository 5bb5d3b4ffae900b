import NIOCore
import Testing

@_spi(Fuzzing) @testable import RPC

@Suite struct WireFormatTests {
  @Test(arguments: [
    ("1H", Int64(3_600_000_000_000)), ("2M", 120_000_000_000), ("3S", 3_000_000_000),
    ("4m", 4_000_000), ("5u", 5_000), ("6n", 6), ("99999999S", 99_999_999_000_000_000),
  ])
  func timeoutParsesEveryUnit(text: String, nanoseconds: Int64) {
    #expect(GRPCTimeout.parse(text) == nanoseconds)
  }

  @Test(arguments: ["", "S", "1", "1x", "-1S", "123456789S", "1.5S", " 1S"])
  func malformedTimeoutIsRefused(text: String) {
    #expect(GRPCTimeout.parse(text) == nil)
  }

  @Test func timeoutEncodingRoundTripsAndFitsEightDigits() {
    for ns: Int64 in [1, 999, 1_000_000, 123_456_789_012, 3_600_000_000_000 * 1000, .max] {
      let text = GRPCTimeout.encode(nanoseconds: ns)
      #expect(text.count <= 9)
      let back = GRPCTimeout.parse(text)!
      #expect(back >= ns)
    }
  }

  @Test func percentEncodingOfStatusMessages() {
    let special = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"
    let encoded = PercentEncoding.encode(special)
    #expect(encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E })
    #expect(encoded.hasPrefix("%09%0Atest with whitespace"))
    #expect(PercentEncoding.decode(encoded) == special)
    #expect(PercentEncoding.encode("100%") == "100%25")
    #expect(PercentEncoding.decode("bad %zz and %4") == "bad %zz and %4")
  }

  @Test func base64RoundTripsAndAcceptsUnpadded() {
    for n in 0..<10 {
      let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 37 + 200) }
      #expect(Base64.decode(Base64.encode(bytes)) == bytes)
    }
    #expect(Base64.encode([0xab, 0xab, 0xab]) == "q6ur")
    #expect(Base64.decode("q6s") == [0xab, 0xab])
    #expect(Base64.decode("not base64!") == nil)
  }

  @Test func deframerSplitsPackedAndSpannedMessages() throws {
    var d = MessageDeframer(maxMessageSize: 100)
    var wire = ByteBuffer()
    for body in ["a", "", "hello"] {
      wire.writeInteger(UInt8(0))
      wire.writeInteger(UInt32(body.utf8.count))
      wire.writeString(body)
    }
    // Feed one byte at a time: messages span "frames".
    var out: [String] = []
    while let b = wire.readSlice(length: 1) {
      d.append(b)
      while let m = try d.next() { out.append(String(buffer: m)) }
    }
    #expect(out == ["a", "", "hello"])
    #expect(!d.hasPartialMessage)
  }

  @Test func deframerRefusesOversizedAndCompressedFromThePrefix() {
    var d = MessageDeframer(maxMessageSize: 10)
    var b = ByteBuffer()
    b.writeInteger(UInt8(0))
    b.writeInteger(UInt32(11))
    d.append(b)
    #expect(throws: MessageDeframer.Failure.tooLarge(11)) { try d.next() }

    var c = MessageDeframer(maxMessageSize: 10)
    var z = ByteBuffer()
    z.writeInteger(UInt8(1))
    z.writeInteger(UInt32(1))
    z.writeInteger(UInt8(0))
    c.append(z)
    #expect(throws: MessageDeframer.Failure.compressed) { try c.next() }
  }

  @Test func httpStatusMapsToGRPCCodes() {
    #expect(Status.Code(httpStatus: 400) == .internal)
    #expect(Status.Code(httpStatus: 401) == .unauthenticated)
    #expect(Status.Code(httpStatus: 403) == .permissionDenied)
    #expect(Status.Code(httpStatus: 404) == .unimplemented)
    #expect(Status.Code(httpStatus: 503) == .unavailable)
    #expect(Status.Code(httpStatus: 415) == .unknown)
    #expect(Status.Code(wireValue: 99) == .unknown)
  }

  @Test func contentTypeCheck() {
    #expect(ServerCall.isGRPCContentType("application/grpc"))
    #expect(ServerCall.isGRPCContentType("application/grpc+proto"))
    #expect(ServerCall.isGRPCContentType("application/grpc;charset=utf-8"))
    #expect(!ServerCall.isGRPCContentType("application/grpcx"))
    #expect(!ServerCall.isGRPCContentType("application/json"))
  }
}

@Suite struct CompressionTests {
  static func frame(_ body: [UInt8]) -> ByteBuffer {
    var b = ByteBuffer()
    b.writeInteger(UInt8(0))
    b.writeInteger(UInt32(body.count))
    b.writeBytes(body)
    return b
  }

  @Test(arguments: MessageEncoding.allCases)
  func roundTripsAndSetsTheFlag(encoding: MessageEncoding) throws {
    let body = Array((0..<100_000).map { UInt8(truncatingIfNeeded: $0 % 7) })
    var compressed = Compression.compressFrame(Self.frame(body), encoding)
    #expect(compressed.readInteger(as: UInt8.self) == 1)
    let length = Int(compressed.readInteger(as: UInt32.self)!)
    #expect(length == compressed.readableBytes && length < body.count / 10)
    // gzip starts 1f 8b; zlib with a 78 byte.
    #expect(compressed.getInteger(at: compressed.readerIndex, as: UInt8.self) == (encoding == .gzip ? 0x1F : 0x78))
    let inflated = try Compression.decompress(compressed, limit: 1 << 20)
    #expect(Array(inflated.readableBytesView) == body)
    // The limit is exact: one byte less refuses it.
    #expect(throws: Compression.TooLarge.self) { try Compression.decompress(compressed, limit: body.count - 1) }
    #expect(try Compression.decompress(compressed, limit: body.count).readableBytes == body.count)
  }

  @Test func corruptOrTruncatedInputIsRefusedNotTrapped() throws {
    var compressed = Compression.compressFrame(Self.frame(Array(repeating: 9, count: 5000)), .gzip)
    compressed.moveReaderIndex(forwardBy: 5)
    let whole = Array(compressed.readableBytesView)
    for cut in [0, 1, 10, whole.count / 2, whole.count - 1] {
      #expect(throws: (any Error).self) {
        try Compression.decompress(ByteBuffer(bytes: whole.prefix(cut)), limit: 1 << 20)
      }
    }
    var flipped = whole
    flipped[whole.count / 2] ^= 0xFF
    #expect(throws: (any Error).self) { try Compression.decompress(ByteBuffer(bytes: flipped), limit: 1 << 20) }
    #expect(throws: (any Error).self) {
      try Compression.decompress(ByteBuffer(bytes: whole + [1, 2, 3]), limit: 1 << 20)
    }
  }
}

@Suite struct EventLoopThreadsTests {
  @Test func cpuListsAreCounted() {
    #expect(EventLoopThreads.cpuCount(list: "0") == 1)
    #expect(EventLoopThreads.cpuCount(list: "0-1") == 2)
    #expect(EventLoopThreads.cpuCount(list: "0,2-3,7") == 4)
    for bad in ["", "x", "3-1", "1-", "-", "0-99999999"] {
      #expect(EventLoopThreads.cpuCount(list: bad) == nil, "\(bad)")
    }
    // This process may use at least one CPU, and no more than the machine has.
    let mine = EventLoopThreads.affinityCPUs
    #expect(mine != nil && mine! >= 1 && mine! <= 4096)
  }
}
