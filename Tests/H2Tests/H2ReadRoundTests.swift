import H2
import NIOCore
import NIOEmbedded
import Testing

/// Server connections sharing one event loop and its read round (`H2ReadRound`).
@Suite struct H2ReadRoundTests {
  /// Moves what the client has to say to the server, without running the server's loop (as
  /// epoll reporting the connection ready: the round is only scheduled).
  static func deliver(_ pair: Pair) throws {
    pair.clientChannel.embeddedEventLoop.run()
    while let bytes = try pair.clientChannel.readOutbound(as: ByteBuffer.self) {
      try pair.serverChannel.writeInbound(bytes)
    }
  }

  static func pairs(_ count: Int, round: Bool) throws -> (EmbeddedEventLoop, [Pair]) {
    let loop = EmbeddedEventLoop()
    let readRound = round ? H2ReadRound(eventLoop: loop) : nil
    return (loop, try (0..<count).map { _ in try Pair(serverLoop: loop, readRound: readRound) })
  }

  /// Read in the order 0, 1, 2 but last served in the order 2, 1, 0: with the round, served
  /// 2, 1, 0 (the longest-waiting first); without, as read.
  @Test(arguments: [true, false])
  func connectionsAreServedLongestWaitingFirst(round: Bool) throws {
    let (loop, pairs) = try Self.pairs(3, round: round)
    var order: [Int] = []
    for (i, pair) in pairs.enumerated() { pair.serverDelegate.onOpen = { order.append(i) } }
    for i in [2, 1, 0] {
      _ = try pairs[i].request(endStream: true)
      try Self.deliver(pairs[i])
      loop.run()
    }
    #expect(order == [2, 1, 0])

    order = []
    var responses: [Recorder] = []
    for i in 0..<3 {
      responses.append(try pairs[i].request(endStream: true).1)
      try Self.deliver(pairs[i])
    }
    if round {
      #expect(order.isEmpty, "read, not yet served")
    }
    loop.run()
    #expect(order == (round ? [2, 1, 0] : [0, 1, 2]))

    // And each is answered.
    for pair in pairs {
      let (stream, _) = try #require(pair.serverDelegate.streams.last)
      stream.sendHeaders([H2Header(":status", "200"), H2Header("grpc-status", "0")], endStream: true)
    }
    for pair in pairs { try pair.shuttle() }
    for response in responses {
      #expect(response.headers.first?.first(named: "grpc-status") == "0")
      #expect(response.closed == .noError)
    }
  }

  /// The bytes a client request with `body` puts on the wire, as one buffer.
  static func requestBytes(_ pair: Pair, body: ByteBuffer) throws -> ByteBuffer {
    let (stream, _) = try pair.request()
    stream.sendData(body, endStream: true)
    pair.clientChannel.embeddedEventLoop.run()
    var all = ByteBuffer()
    while var bytes = try pair.clientChannel.readOutbound(as: ByteBuffer.self) {
      all.writeBuffer(&bytes)
    }
    return all
  }

  /// A round holds one read per connection: a second read in the same round is served at once,
  /// after the held one, in order; the last small read waits for the round.
  @Test func aSecondReadInOneRoundIsServedAtOnceInOrder() throws {
    let (loop, pairs) = try Self.pairs(2, round: true)
    let all = try Self.requestBytes(pairs[0], body: ByteBuffer(string: "hello, round"))
    // Three reads: split inside the HEADERS frame and inside the DATA frame.
    let cuts = [0, 7, all.readableBytes - 3, all.readableBytes]
    for (from, to) in zip(cuts, cuts.dropFirst()) {
      try pairs[0].serverChannel.writeInbound(all.getSlice(at: from, length: to - from)!)
    }
    let (_, request) = try #require(pairs[0].serverDelegate.streams.first, "served at the second read")
    #expect(!request.ended, "the third read waits for the round")
    loop.run()
    #expect(String(buffer: request.data) == "hello, round")
    #expect(request.ended)
  }

  /// A read larger than a round holds is served as it is read.
  @Test func aLargeReadIsServedAtOnce() throws {
    let (_, pairs) = try Self.pairs(2, round: true)
    let body = ByteBuffer(repeating: 0x61, count: H2Connection.roundReadLimit + 1)
    let all = try Self.requestBytes(pairs[0], body: body)
    try pairs[0].serverChannel.writeInbound(all)
    let (_, request) = try #require(pairs[0].serverDelegate.streams.first)
    #expect(request.data.readableBytes == body.readableBytes)
    #expect(request.ended)
  }

  /// A connection closed while its input waits for the round is dropped from it; the last one
  /// left on the loop is served as its input is read.
  @Test func aConnectionClosedWhileWaitingIsSkipped() throws {
    let (loop, pairs) = try Self.pairs(2, round: true)
    for pair in pairs {
      _ = try pair.request(endStream: true)
      try Self.deliver(pair)
    }
    pairs[0].serverChannel.close(promise: nil)
    loop.run()
    #expect(!pairs[0].serverChannel.isActive)
    #expect(pairs[0].serverDelegate.streams.isEmpty)
    #expect(pairs[1].serverDelegate.streams.count == 1)

    _ = try pairs[1].request(endStream: true)
    try Self.deliver(pairs[1])
    #expect(pairs[1].serverDelegate.streams.count == 2, "alone on the loop: served at once")
  }
}
