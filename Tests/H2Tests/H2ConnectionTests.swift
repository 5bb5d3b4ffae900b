import H2
import NIOCore
import NIOEmbedded
import Testing

/// Records what one stream receives.
final class Recorder: H2StreamDelegate {
  var headers: [[H2Header]] = []
  var data = ByteBuffer()
  var ended = false
  var closed: H2ErrorCode?
  var becameWritable = 0
  var consumeOnReceive = true

  func h2Stream(_ stream: H2Stream, receivedHeaders headers: [H2Header], endStream: Bool) {
    self.headers.append(headers)
    if endStream { ended = true }
  }
  func h2Stream(_ stream: H2Stream, receivedData data: ByteBuffer, endStream: Bool) {
    var data = data
    if consumeOnReceive { stream.consume(data.readableBytes) }
    self.data.writeBuffer(&data)
    if endStream { ended = true }
  }
  func h2Stream(_ stream: H2Stream, closedWith error: H2ErrorCode) { closed = error }
  func h2StreamBecameWritable(_ stream: H2Stream) { becameWritable += 1 }
}

/// Accepts every stream the peer opens and keeps its recorder.
final class Acceptor: H2ConnectionDelegate {
  var streams: [(H2Stream, Recorder)] = []
  var goAways: [(Int32, H2ErrorCode)] = []
  var pingAcks: [UInt64] = []
  var closed = false
  var consumeOnReceive = true
  /// Called with each stream opened (tests that watch several connections).
  var onOpen: (() -> Void)?

  func h2Connection(_ connection: H2Connection, openedStream stream: H2Stream) -> (any H2StreamDelegate)? {
    onOpen?()
    let r = Recorder()
    r.consumeOnReceive = consumeOnReceive
    streams.append((stream, r))
    return r
  }
  func h2Connection(_ connection: H2Connection, receivedGoAway lastStreamID: Int32, error: H2ErrorCode) {
    goAways.append((lastStreamID, error))
  }
  func h2Connection(_ connection: H2Connection, receivedPingAck opaque: UInt64) { pingAcks.append(opaque) }
  func h2ConnectionClosed(_ connection: H2Connection) { closed = true }
}

/// A client and a server H2Connection in two EmbeddedChannels, with bytes moved between them.
final class Pair {
  let serverDelegate = Acceptor()
  let clientDelegate = Acceptor()
  let server: H2Connection
  let client: H2Connection
  let serverChannel: EmbeddedChannel
  let clientChannel: EmbeddedChannel

  /// `serverLoop`: the server's event loop, which several pairs may share; `readRound`: the
  /// round the server is served in (on that loop).
  init(
    serverSettings: H2Settings = H2Settings(), consume: Bool = true,
    serverLoop: EmbeddedEventLoop = EmbeddedEventLoop(), readRound: H2ReadRound? = nil
  ) throws {
    serverDelegate.consumeOnReceive = consume
    server = H2Connection(role: .server, settings: serverSettings, delegate: serverDelegate)
    server.readRound = readRound
    client = H2Connection(role: .client, delegate: clientDelegate)
    serverChannel = EmbeddedChannel(handler: server, loop: serverLoop)
    clientChannel = EmbeddedChannel(handler: client)
    let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
    try serverChannel.connect(to: address).wait()
    try clientChannel.connect(to: address).wait()
    try shuttle()
  }

  /// Moves bytes both ways until neither side has anything more to say.
  func shuttle() throws {
    var moved = true
    while moved {
      moved = false
      serverChannel.embeddedEventLoop.run()
      clientChannel.embeddedEventLoop.run()
      while let b = try clientChannel.readOutbound(as: ByteBuffer.self) {
        if serverChannel.isActive { try serverChannel.writeInbound(b) }
        moved = true
      }
      while let b = try serverChannel.readOutbound(as: ByteBuffer.self) {
        if clientChannel.isActive { try clientChannel.writeInbound(b) }
        moved = true
      }
    }
  }

  func request(
    _ path: String = "/svc/M", endStream: Bool = false, extra: [H2Header] = []
  ) throws -> (H2Stream, Recorder) {
    let r = Recorder()
    let s = try client.openStream(
      headers: [
        H2Header(":method", "POST"), H2Header(":scheme", "http"), H2Header(":path", path),
        H2Header(":authority", "test"), H2Header("content-type", "application/grpc"),
      ] + extra, endStream: endStream, delegate: r)
    return (s, r)
  }
}

@Suite struct H2ConnectionTests {
  @Test func requestAndResponseWithTrailers() throws {
    let pair = try Pair()
    let (clientStream, response) = try pair.request()
    clientStream.sendData(ByteBuffer(string: "hello"), endStream: true)
    try pair.shuttle()

    #expect(pair.serverDelegate.streams.count == 1)
    let (serverStream, request) = pair.serverDelegate.streams[0]
    #expect(request.headers.first?.first(named: ":path") == "/svc/M")
    #expect(String(buffer: request.data) == "hello")
    #expect(request.ended)

    serverStream.sendHeaders([H2Header(":status", "200")], endStream: false)
    serverStream.sendData(ByteBuffer(string: "world"))
    serverStream.sendTrailers([H2Header("grpc-status", "0")])
    try pair.shuttle()

    #expect(response.headers.count == 2)
    #expect(response.headers[0].first(named: ":status") == "200")
    #expect(response.headers[1].first(named: "grpc-status") == "0")
    #expect(String(buffer: response.data) == "world")
    #expect(response.ended)
    #expect(response.closed == .noError)
    #expect(request.closed == .noError)
  }

  @Test func trailersOnlyResponse() throws {
    let pair = try Pair()
    let (_, response) = try pair.request(endStream: true)
    try pair.shuttle()
    let (serverStream, _) = pair.serverDelegate.streams[0]
    serverStream.sendHeaders([H2Header(":status", "200"), H2Header("grpc-status", "12")], endStream: true)
    try pair.shuttle()
    #expect(response.headers.count == 1)
    #expect(response.headers[0].first(named: "grpc-status") == "12")
    #expect(response.closed == .noError)
  }

  @Test func dataSplitAcrossFramesArrivesWhole() throws {
    let pair = try Pair()
    let (clientStream, _) = try pair.request()
    var big = ByteBuffer()
    big.writeRepeatingByte(7, count: 100_000)  // > 16 KiB max frame: several DATA frames
    clientStream.sendData(big, endStream: true)
    try pair.shuttle()
    let (_, request) = pair.serverDelegate.streams[0]
    #expect(request.data.readableBytes == 100_000)
    #expect(request.ended)
  }

  /// Response headers nghttp2 cannot send (a header block past its 64 KiB limit for sending)
  /// must not leave the peer waiting: the stream is reset, and the connection lives on.
  @Test(arguments: [false, true])
  func headersThatCannotBeSentResetTheStream(asTrailers: Bool) throws {
    let pair = try Pair()
    let (clientStream, response) = try pair.request()
    clientStream.sendData(ByteBuffer(string: "x"), endStream: true)
    try pair.shuttle()
    let (serverStream, _) = pair.serverDelegate.streams[0]
    let huge = H2Header("grpc-message", String(repeating: "%E5", count: 40_000))
    if asTrailers {
      serverStream.sendHeaders([H2Header(":status", "200")], endStream: false)
      serverStream.sendData(ByteBuffer(string: "partial"))
      serverStream.sendTrailers([H2Header("grpc-status", "3"), huge])
    } else {
      serverStream.sendHeaders([H2Header(":status", "200"), H2Header("grpc-status", "3"), huge], endStream: true)
    }
    try pair.shuttle()
    #expect(response.closed == .internalError)
    // The connection still serves the next stream.
    let (next, nextResponse) = try pair.request(endStream: true)
    _ = next
    try pair.shuttle()
    let (serverNext, _) = pair.serverDelegate.streams[1]
    serverNext.sendHeaders([H2Header(":status", "200"), H2Header("grpc-status", "0")], endStream: true)
    try pair.shuttle()
    #expect(nextResponse.closed == .noError)
  }

  @Test func resetReachesThePeer() throws {
    let pair = try Pair()
    let (clientStream, _) = try pair.request()
    try pair.shuttle()
    clientStream.reset(.cancel)
    try pair.shuttle()
    #expect(pair.serverDelegate.streams[0].1.closed == .cancel)
  }

  @Test func pingIsAcknowledged() throws {
    let pair = try Pair()
    pair.client.ping(0x1234)
    try pair.shuttle()
    #expect(pair.clientDelegate.pingAcks == [0x1234])
  }

  @Test func gracefulGoAwayLetsOpenStreamsFinish() throws {
    let pair = try Pair()
    let (clientStream, response) = try pair.request()
    try pair.shuttle()
    pair.server.goAway()
    try pair.shuttle()
    #expect(pair.clientDelegate.goAways.count >= 1)
    #expect(pair.serverChannel.isActive)

    // The stream that was open still completes.
    clientStream.sendData(ByteBuffer(string: "x"), endStream: true)
    try pair.shuttle()
    let (serverStream, _) = pair.serverDelegate.streams[0]
    serverStream.sendHeaders([H2Header(":status", "200"), H2Header("grpc-status", "0")], endStream: true)
    try pair.shuttle()
    #expect(response.closed == .noError)
    // Last stream done after the final GOAWAY: the server closes the connection.
    #expect(!pair.serverChannel.isActive)
  }

  @Test func headerListOverTheLimitResetsOnlyThatStream() throws {
    var settings = H2Settings()
    settings.maxHeaderListSize = 4096
    let pair = try Pair(serverSettings: settings)
    let (_, big) = try pair.request(endStream: true, extra: [H2Header("x-big", String(repeating: "a", count: 8000))])
    try pair.shuttle()
    #expect(big.closed != nil && big.closed != .noError)
    #expect(pair.serverDelegate.streams.isEmpty)

    let (_, small) = try pair.request(endStream: true)
    try pair.shuttle()
    #expect(pair.serverDelegate.streams.count == 1)
    #expect(small.closed == nil)
  }

  @Test func slowReaderHoldsBackTheWriter() throws {
    // The client never returns credit: the server may send one stream window (1 MiB, our
    // initial window) and must then keep the rest queued, reporting itself not writable.
    let pair = try Pair()
    let (clientStream, response) = try pair.request(endStream: true)
    response.consumeOnReceive = false
    try pair.shuttle()
    let (serverStream, _) = pair.serverDelegate.streams[0]
    serverStream.sendHeaders([H2Header(":status", "200")], endStream: false)
    var chunk = ByteBuffer()
    chunk.writeRepeatingByte(1, count: 3_000_000)
    serverStream.sendData(chunk)
    try pair.shuttle()
    #expect(!serverStream.isWritable)
    #expect(response.data.readableBytes <= 1 << 20)
    #expect(serverStream.bufferedOutboundBytes >= 3_000_000 - (1 << 20))

    // Credit returned: the rest flows, and the stream reports it can take more.
    while response.data.readableBytes < 3_000_000 {
      let before = response.data.readableBytes
      clientStream.consume(1 << 20)
      try pair.shuttle()
      if response.data.readableBytes == before { break }
    }
    #expect(response.data.readableBytes == 3_000_000)
    #expect(pair.serverDelegate.streams[0].1.becameWritable >= 1)
  }

  @Test func garbageClosesTheConnection() throws {
    let pair = try Pair()
    try pair.serverChannel.writeInbound(
      ByteBuffer(bytes: [0, 0, 4, 0xFF, 0, 0, 0, 0, 0, 1, 2, 3, 4] + Array(repeating: 0xEE, count: 64)))
    pair.serverChannel.embeddedEventLoop.run()
    // A GOAWAY went out and the channel closed.
    var sawGoAway = false
    while let b = try? pair.serverChannel.readOutbound(as: ByteBuffer.self) {
      var b = b
      while b.readableBytes >= 9 {
        let length = Int(b.getInteger(at: b.readerIndex, as: UInt32.self)! >> 8)
        let type: UInt8 = b.getInteger(at: b.readerIndex + 3)!
        if type == 7 { sawGoAway = true }
        b.moveReaderIndex(forwardBy: min(9 + length, b.readableBytes))
      }
    }
    #expect(sawGoAway)
    #expect(!pair.serverChannel.isActive)
  }

  @Test func badPrefaceClosesTheConnection() throws {
    let delegate = Acceptor()
    let server = H2Connection(role: .server, delegate: delegate)
    let channel = EmbeddedChannel(handler: server)
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    channel.embeddedEventLoop.run()
    #expect(!channel.isActive)
    #expect(delegate.streams.isEmpty)
  }
}

/// The server's limits, tried with raw frames (what a hostile or broken peer sends).
@Suite struct H2ServerLimitsTests {
  /// A frame: 9-byte header and payload.
  static func frame(type: UInt8, flags: UInt8, stream: UInt32, _ payload: [UInt8]) -> ByteBuffer {
    var b = ByteBuffer()
    b.writeInteger(UInt32(payload.count) << 8 | UInt32(type))
    b.moveWriterIndex(to: b.writerIndex - 1)  // 24-bit length, then the type byte
    b.writeInteger(type)
    b.writeInteger(flags)
    b.writeInteger(stream)
    b.writeBytes(payload)
    return b
  }

  /// A request header block of static-table entries and a literal :authority that adds nothing
  /// to the decoder's dynamic table (so the real client's encoder stays in step).
  static let requestBlock: [UInt8] = [0x83, 0x86, 0x84, 0x01, 0x01, 0x61]

  /// The frames the server wrote: (type, flags, stream, payload).
  static func frames(_ channel: EmbeddedChannel) throws -> [(UInt8, UInt8, UInt32, [UInt8])] {
    var out: [(UInt8, UInt8, UInt32, [UInt8])] = []
    while var b = try channel.readOutbound(as: ByteBuffer.self) {
      while b.readableBytes >= 9 {
        let length = Int(b.getInteger(at: b.readerIndex, as: UInt32.self)! >> 8)
        let type: UInt8 = b.getInteger(at: b.readerIndex + 3)!
        let flags: UInt8 = b.getInteger(at: b.readerIndex + 4)!
        let stream: UInt32 = b.getInteger(at: b.readerIndex + 5)! & 0x7FFF_FFFF
        let payload = b.getBytes(at: b.readerIndex + 9, length: min(length, b.readableBytes - 9)) ?? []
        out.append((type, flags, stream, payload))
        b.moveReaderIndex(forwardBy: min(9 + length, b.readableBytes))
      }
    }
    return out
  }

  /// The error code of the last GOAWAY the server sent, nil if none.
  static func goAwayCode(_ frames: [(UInt8, UInt8, UInt32, [UInt8])]) -> UInt32? {
    guard let g = frames.last(where: { $0.0 == 7 }), g.3.count >= 8 else { return nil }
    return g.3[4..<8].reduce(0) { $0 << 8 | UInt32($1) }
  }

  /// RFC 9113 §5.1.1: HEADERS reusing a finished stream's id is a connection error.
  @Test func headersOnAFinishedStreamIsAConnectionError() throws {
    let pair = try Pair()
    let (_, response) = try pair.request(endStream: true)
    try pair.shuttle()
    let (serverStream, _) = pair.serverDelegate.streams[0]
    serverStream.sendHeaders([H2Header(":status", "200"), H2Header("grpc-status", "0")], endStream: true)
    try pair.shuttle()
    #expect(response.closed == .noError)
    try pair.serverChannel.writeInbound(Self.frame(type: 1, flags: 0x5, stream: 1, Self.requestBlock))
    pair.serverChannel.embeddedEventLoop.run()
    #expect(Self.goAwayCode(try Self.frames(pair.serverChannel)) == H2ErrorCode.protocolError.rawValue)
    #expect(!pair.serverChannel.isActive)
    #expect(pair.serverDelegate.streams.count == 1)
  }

  /// …but frames the peer sent before it saw our reset are ignored (RFC 9113 §5.1, closed).
  @Test func headersOnAStreamWeResetAreIgnored() throws {
    let pair = try Pair()
    _ = try pair.request()
    try pair.shuttle()
    pair.serverDelegate.streams[0].0.reset(.cancel)
    try pair.shuttle()
    try pair.serverChannel.writeInbound(Self.frame(type: 1, flags: 0x5, stream: 1, Self.requestBlock))
    pair.serverChannel.embeddedEventLoop.run()
    #expect(Self.goAwayCode(try Self.frames(pair.serverChannel)) == nil)
    #expect(pair.serverChannel.isActive)
    let (_, next) = try pair.request(endStream: true)
    try pair.shuttle()
    #expect(pair.serverDelegate.streams.count == 2 && next.closed == nil)
  }

  /// A stream id below the highest opened, never used: also a connection error.
  @Test func aSkippedLowerStreamIdIsAConnectionError() throws {
    let pair = try Pair()
    try pair.serverChannel.writeInbound(Self.frame(type: 1, flags: 0x4, stream: 7, Self.requestBlock))
    try pair.serverChannel.writeInbound(Self.frame(type: 1, flags: 0x5, stream: 3, Self.requestBlock))
    pair.serverChannel.embeddedEventLoop.run()
    #expect(Self.goAwayCode(try Self.frames(pair.serverChannel)) == H2ErrorCode.protocolError.rawValue)
    #expect(!pair.serverChannel.isActive)
  }

  static let ping = frame(type: 6, flags: 0, stream: 0, [1, 2, 3, 4, 5, 6, 7, 8])

  /// Keepalive enforcement: more than two early PINGs get GOAWAY ENHANCE_YOUR_CALM.
  @Test func aPingFloodGetsEnhanceYourCalm() throws {
    let pair = try Pair()
    for _ in 0..<3 { try pair.serverChannel.writeInbound(Self.ping) }
    pair.serverChannel.embeddedEventLoop.run()
    let first = try Self.frames(pair.serverChannel)
    #expect(first.filter { $0.0 == 6 && $0.1 & 1 == 1 }.count == 3)  // answered
    #expect(Self.goAwayCode(first) == nil && pair.serverChannel.isActive)
    try pair.serverChannel.writeInbound(Self.ping)
    pair.serverChannel.embeddedEventLoop.run()
    let after = try Self.frames(pair.serverChannel)
    #expect(Self.goAwayCode(after) == H2ErrorCode.enhanceYourCalm.rawValue)
    #expect(after.last { $0.0 == 7 }.map { String(decoding: $0.3.dropFirst(8), as: UTF8.self) } == "too_many_pings")
    #expect(!pair.serverChannel.isActive)
  }

  /// Pings spaced as the policy allows are answered for ever.
  @Test func pingsAtThePermittedIntervalAreFine() throws {
    var settings = H2Settings()
    settings.minPingInterval = .seconds(10)
    settings.permitPingWithoutCalls = true
    let pair = try Pair(serverSettings: settings)
    for _ in 0..<10 {
      try pair.serverChannel.writeInbound(Self.ping)
      pair.serverChannel.embeddedEventLoop.advanceTime(by: .seconds(11))
    }
    #expect(Self.goAwayCode(try Self.frames(pair.serverChannel)) == nil && pair.serverChannel.isActive)
  }

  @Test func anIdleConnectionIsToldGoAwayAndCloses() throws {
    var settings = H2Settings()
    settings.maxConnectionIdle = .seconds(60)
    let pair = try Pair(serverSettings: settings)
    pair.serverChannel.embeddedEventLoop.advanceTime(by: .seconds(59))
    try pair.shuttle()
    #expect(pair.clientDelegate.goAways.isEmpty)
    pair.serverChannel.embeddedEventLoop.advanceTime(by: .seconds(2))
    try pair.shuttle()
    #expect(!pair.clientDelegate.goAways.isEmpty)
    #expect(!pair.serverChannel.isActive)
  }

  /// Idle time counts from when the last stream ended, not from when the connection opened.
  @Test func idleCountsFromTheLastCall() throws {
    var settings = H2Settings()
    settings.maxConnectionIdle = .seconds(60)
    let pair = try Pair(serverSettings: settings)
    let loop = pair.serverChannel.embeddedEventLoop
    loop.advanceTime(by: .seconds(50))
    let (_, response) = try pair.request(endStream: true)
    try pair.shuttle()
    loop.advanceTime(by: .seconds(5))
    pair.serverDelegate.streams[0].0.sendHeaders(
      [H2Header(":status", "200"), H2Header("grpc-status", "0")], endStream: true)
    try pair.shuttle()
    #expect(response.closed == .noError)  // idle since t = 55 s
    loop.advanceTime(by: .seconds(58))  // t = 113: the first timer (t = 60) found it busy-then-idle
    try pair.shuttle()
    #expect(pair.clientDelegate.goAways.isEmpty && pair.serverChannel.isActive)
    loop.advanceTime(by: .seconds(3))  // t = 116
    try pair.shuttle()
    #expect(!pair.clientDelegate.goAways.isEmpty)
  }

  @Test func anOldConnectionGoesAwayGracefullyThenCloses() throws {
    var settings = H2Settings()
    settings.maxConnectionAge = .seconds(100)  // 90–110 s with its jitter
    settings.maxConnectionAgeGrace = .seconds(30)
    let pair = try Pair(serverSettings: settings)
    let (_, response) = try pair.request()
    try pair.shuttle()
    pair.serverChannel.embeddedEventLoop.advanceTime(by: .seconds(111))
    try pair.shuttle()
    #expect(!pair.clientDelegate.goAways.isEmpty)
    #expect(pair.serverChannel.isActive && response.closed == nil)  // the call may finish
    pair.serverChannel.embeddedEventLoop.advanceTime(by: .seconds(30))
    try pair.shuttle()
    #expect(!pair.serverChannel.isActive)
  }

  /// Slowloris: no preface, or a header block that never ends, within the header timeout.
  @Test(arguments: [false, true])
  func slowHeadersCloseTheConnection(sendsPreface: Bool) throws {
    let server = H2Connection(role: .server, delegate: Acceptor())
    let channel = EmbeddedChannel(handler: server)
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    if sendsPreface {
      var preface = ByteBuffer(string: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
      var settings = Self.frame(type: 4, flags: 0, stream: 0, [])
      preface.writeBuffer(&settings)
      try channel.writeInbound(preface)
      // HEADERS without END_HEADERS, and no CONTINUATION ever.
      try channel.writeInbound(Self.frame(type: 1, flags: 0x1, stream: 1, [0x83]))
    }
    channel.embeddedEventLoop.advanceTime(by: .seconds(9))
    #expect(channel.isActive)
    channel.embeddedEventLoop.advanceTime(by: .seconds(2))
    #expect(!channel.isActive)
  }

  /// A connection that sends its requests promptly is never taken for a slow one.
  @Test func promptHeadersKeepTheConnection() throws {
    let pair = try Pair()
    for _ in 0..<5 {
      let (_, r) = try pair.request(endStream: true)
      try pair.shuttle()
      pair.serverChannel.embeddedEventLoop.advanceTime(by: .seconds(4))
      #expect(r.closed == nil)
    }
    #expect(pair.serverChannel.isActive)
  }
}
