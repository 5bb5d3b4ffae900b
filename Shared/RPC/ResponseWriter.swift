import SwiftProtobuf

/// Sends a streaming handler's responses. `write` waits while the peer is not reading, so a
/// slow client holds the handler back instead of making the server buffer without bound.
public struct ResponseWriter<Message: SwiftProtobuf.Message>: Sendable {
  let call: ServerCall
  /// The call's context (e.g. to turn response compression on or off between messages).
  public let context: ServerContext

  public func write(_ message: Message) async throws {
    try await call.send(Codec.frame(message), context: context)
  }
}

/// The messages a client-streaming or bidirectional handler receives, in order.
public struct RequestStream<Message: SwiftProtobuf.Message>: AsyncSequence, Sendable {
  let call: ServerCall

  public struct AsyncIterator: AsyncIteratorProtocol {
    let call: ServerCall
    public mutating func next() async throws -> Message? {
      guard let bytes = try await call.nextRequest() else { return nil }
      return try Codec.decode(Message.self, from: bytes)
    }
  }

  public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(call: call) }
}
