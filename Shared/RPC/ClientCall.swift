import H2
import NIOCore
import SwiftProtobuf

/// One client call on one HTTP/2 stream, of any kind: send requests, end, receive responses,
/// read metadata and status. Its state lives on the connection's event loop.
public final class ClientCall<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>:
  H2StreamDelegate, @unchecked Sendable
{
  public let descriptor: MethodDescriptor
  let loop: any EventLoop
  private let maxReceiveMessageSize: Int
  private var stream: H2Stream?
  private var deframer: MessageDeframer
  private var messages = CircularBuffer<Received>()
  /// A response message as it came: its bytes, and whether they are compressed.
  struct Received {
    var bytes: ByteBuffer
    var compressed: Bool
  }
  /// The request encoding of this call (`CallOptions.compression`), nil for identity.
  var compression: MessageEncoding?
  /// Whether the response message `receive()` returned last came compressed (read by the task
  /// that receives).
  public private(set) var lastResponseCompressed = false
  private var headers: Metadata?
  private var trailers = Metadata()
  private var finalStatus: Status?
  /// What may happen next (the call's state machine).
  private var state = ClientCallState()
  private var details: [UInt8]?
  private var receiveWaiter: CheckedContinuation<Received?, any Error>?
  private var headersWaiters: [CheckedContinuation<Metadata, any Error>] = []
  private var statusWaiters: [CheckedContinuation<Status, Never>] = []
  private var writeWaiter: CheckedContinuation<Void, any Error>?
  private var deadlineTimer: Scheduled<Void>?

  init(descriptor: MethodDescriptor, loop: any EventLoop, maxReceiveMessageSize: Int) {
    self.descriptor = descriptor
    self.loop = loop
    self.maxReceiveMessageSize = maxReceiveMessageSize
    self.deframer = MessageDeframer(maxMessageSize: maxReceiveMessageSize)
  }

  // MARK: Setup (on the loop)

  func open(on connection: H2Connection, headers: [H2Header], deadline: NIODeadline?) throws {
    stream = try connection.openStream(headers: headers, endStream: false, delegate: self)
    if let deadline {
      deadlineTimer = loop.scheduleTask(deadline: deadline) { [self] in
        terminate(Status(code: .deadlineExceeded, message: "deadline exceeded"))
      }
    }
  }

  // MARK: Public API

  /// Sends one request message, compressed with the call's encoding (`CallOptions.compression`)
  /// unless `compressed` is false; waits while the server is not reading.
  public func send(_ message: Request, compressed: Bool = true) async throws {
    let plain = try Codec.frame(message)
    let frame = compressed ? compression.map { Compression.compressFrame(plain, $0) } ?? plain : plain
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
      onLoop {
        guard let stream = self.stream, !stream.isClosed, self.state.maySend else {
          return c.resume(throwing: self.statusError ?? RPCError(code: .unavailable, message: "call closed"))
        }
        stream.sendData(frame)
        if stream.isWritable { c.resume() } else { self.writeWaiter = c }
      }
    }
  }

  /// Ends the request stream (half-close).
  public func end() async throws {
    onLoop {
      if let stream = self.stream, !stream.isClosed {
        stream.sendData(messageAllocator.buffer(capacity: 0), endStream: true)
      }
    }
  }

  /// The next response message, nil after the last; throws the call's error status.
  public func receive() async throws -> Response? {
    let received = try await withCheckedThrowingContinuation {
      (c: CheckedContinuation<Received?, any Error>) in
      onLoop {
        if let m = self.messages.popFirst() {
          self.stream?.consume(m.bytes.readableBytes + 5)
          c.resume(returning: m)
        } else if let status = self.finalStatus {
          if status.code == .ok { c.resume(returning: nil) } else { c.resume(throwing: self.statusError!) }
        } else {
          self.receiveWaiter = c
        }
      }
    }
    guard var received else { return nil }
    lastResponseCompressed = received.compressed
    if received.compressed {
      // Inflated here, in the caller's task, never past the message limit (a zip bomb stops).
      do {
        received.bytes = try Compression.decompress(received.bytes, limit: maxReceiveMessageSize)
      } catch is Compression.TooLarge {
        cancel()
        throw RPCError(
          code: .resourceExhausted,
          message: "decompressed response exceeds the limit of \(maxReceiveMessageSize) bytes")
      } catch {
        cancel()
        throw RPCError(code: .internal, message: "could not decompress a response message")
      }
    }
    return try Codec.decode(Response.self, from: received.bytes)
  }

  /// The response messages as an async sequence.
  public var responses: AsyncThrowingStream<Response, any Error> {
    AsyncThrowingStream { [self] in try await self.receive() }
  }

  /// The server's initial metadata (empty for a trailers-only response).
  public func initialMetadata() async throws -> Metadata {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Metadata, any Error>) in
      onLoop {
        if let h = self.headers {
          c.resume(returning: h)
        } else if self.finalStatus != nil {
          c.resume(returning: Metadata())
        } else {
          self.headersWaiters.append(c)
        }
      }
    }
  }

  /// The call's final status (waits for it).
  public func status() async -> Status {
    await withCheckedContinuation { (c: CheckedContinuation<Status, Never>) in
      onLoop {
        if let s = self.finalStatus { c.resume(returning: s) } else { self.statusWaiters.append(c) }
      }
    }
  }

  /// The call's error, nil if it ended OK (waits for the status).
  public func error() async -> RPCError? {
    _ = await status()
    return await withCheckedContinuation { c in onLoop { c.resume(returning: self.statusError) } }
  }

  /// The trailing metadata (waits for the status).
  public func trailingMetadata() async -> Metadata {
    _ = await status()
    return await withCheckedContinuation { c in onLoop { c.resume(returning: self.trailers) } }
  }

  /// Cancels the call: RST_STREAM(CANCEL) to the server, CANCELLED locally.
  public func cancel() {
    onLoop { self.terminate(Status(code: .cancelled, message: "call cancelled by the client")) }
  }

  var statusError: RPCError? {
    guard let s = finalStatus, s.code != .ok else { return nil }
    return RPCError(code: s.code, message: s.message, metadata: trailers, details: details)
  }

  // MARK: H2 events

  public func h2Stream(_ stream: H2Stream, receivedHeaders fields: [H2Header], endStream: Bool) {
    let action = state.headersReceived(endStream: endStream)
    switch action {
    case .ignore: return
    case .violation:
      return terminate(Status(code: .internal, message: "HEADERS without END_STREAM after the response headers"))
    case .trailers: break
    case .responseHeaders, .trailersOnly:
      var httpStatus = ""
      var contentType: String?
      for f in fields {
        if f.name == ":status" { httpStatus = f.value }
        if f.name == "content-type" { contentType = f.value }
      }
      if httpStatus != "200" {
        let code = Status.Code(httpStatus: Int(httpStatus) ?? 0)
        return terminate(Status(code: code, message: "HTTP status \(httpStatus)"), reset: false)
      }
      if action == .responseHeaders {
        guard let contentType, ServerCall.isGRPCContentType(contentType) else {
          return terminate(
            Status(code: .unknown, message: "invalid content-type \(contentType ?? "(none)")"))
        }
        if let encoding = fields.first(where: { $0.name == "grpc-encoding" })?.value, encoding != "identity" {
          guard MessageEncoding(rawValue: encoding) != nil else {
            return terminate(Status(code: .internal, message: "response encoding \(encoding) is not supported"))
          }
          deframer.allowCompressed = true
        }
        state.responseHeadersAccepted()
        let md = Self.metadata(from: fields)
        headers = md
        for w in headersWaiters { w.resume(returning: md) }
        headersWaiters.removeAll()
        return
      }
    }
    // Trailers, or a trailers-only response.
    var code: Status.Code?
    var message = ""
    for f in fields {
      switch f.name {
      case "grpc-status": code = Int(f.value).map(Status.Code.init(wireValue:))
      case "grpc-message": message = PercentEncoding.decode(f.value)
      case "grpc-status-details-bin": details = Base64.decode(f.value)
      default: break
      }
    }
    trailers = Self.metadata(from: fields)
    if let code {
      complete(Status(code: code, message: message))
    } else {
      complete(Status(code: .unknown, message: "response ended without grpc-status"))
    }
  }

  public func h2Stream(_ stream: H2Stream, receivedData data: ByteBuffer, endStream: Bool) {
    switch state.dataReceived() {
    case .deframe: break
    case .discard:
      stream.consume(data.readableBytes)
      return
    case .violation:
      stream.consume(data.readableBytes)
      return terminate(Status(code: .internal, message: "DATA before the response headers"))
    }
    deframer.append(data)
    var framed = 0
    do {
      while let bytes = try deframer.next() {
        let m = Received(bytes: bytes, compressed: deframer.lastCompressed)
        framed += bytes.readableBytes + 5
        if let w = receiveWaiter {
          receiveWaiter = nil
          stream.consume(bytes.readableBytes + 5)
          w.resume(returning: m)
        } else {
          messages.append(m)
        }
      }
    } catch .tooLarge(let n) {
      stream.consume(data.readableBytes)
      return terminate(
        Status(
          code: .resourceExhausted,
          message: "response message of \(n) bytes exceeds the limit of \(maxReceiveMessageSize) bytes"))
    } catch {
      stream.consume(data.readableBytes)
      return terminate(Status(code: .internal, message: "compressed response without grpc-encoding"))
    }
    // Bytes of partial messages are credited now; whole messages when the caller takes them.
    let partial = data.readableBytes - framed
    if partial > 0 { stream.consume(partial) }
  }

  public func h2Stream(_ stream: H2Stream, closedWith error: H2ErrorCode) {
    guard !state.isClosed else { return }
    let status: Status
    switch error {
    case .noError: status = Status(code: .internal, message: "stream closed without a status")
    case .cancel: status = Status(code: .cancelled, message: "stream cancelled by the server")
    case .refusedStream: status = Status(code: .unavailable, message: "stream refused by the server")
    case .connectError:
      status = Status(code: .unavailable, message: "connection closed" + (stream.lostReason.map { ": \($0)" } ?? ""))
    case .enhanceYourCalm: status = Status(code: .resourceExhausted, message: "server said ENHANCE_YOUR_CALM")
    default: status = Status(code: .internal, message: "stream reset: \(error)")
    }
    complete(status)
  }

  public func h2StreamBecameWritable(_ stream: H2Stream) {
    if let w = writeWaiter {
      writeWaiter = nil
      w.resume()
    }
  }

  // MARK: Ending

  /// Ends the call locally with `status`, resetting the stream.
  private func terminate(_ status: Status, reset: Bool = true) {
    guard !state.isClosed else { return }
    if reset { stream?.reset(.cancel) }
    complete(status)
  }

  private func complete(_ status: Status) {
    guard state.close() else { return }
    finalStatus = status
    deadlineTimer?.cancel()
    let error = statusError
    if let w = receiveWaiter {
      receiveWaiter = nil
      if let error, messages.isEmpty {
        w.resume(throwing: error)
      } else if let m = messages.popFirst() {
        w.resume(returning: m)
      } else {
        w.resume(returning: nil)
      }
    }
    for w in headersWaiters {
      if let error { w.resume(throwing: error) } else { w.resume(returning: headers ?? Metadata()) }
    }
    headersWaiters.removeAll()
    for w in statusWaiters { w.resume(returning: status) }
    statusWaiters.removeAll()
    if let w = writeWaiter {
      writeWaiter = nil
      w.resume(throwing: error ?? RPCError(code: .unavailable, message: "call closed"))
    }
  }

  static func metadata(from fields: [H2Header]) -> Metadata {
    var md = Metadata()
    for f in fields where !Metadata.isReserved(f.name) {
      if f.name.hasSuffix("-bin") {
        if let b = Base64.decode(f.value) { md.elements.append(.init(key: f.name, value: .binary(b))) }
      } else {
        md.elements.append(.init(key: f.name, value: .string(f.value)))
      }
    }
    return md
  }

  private func onLoop(_ body: @escaping @Sendable () -> Void) {
    if loop.inEventLoop { body() } else { loop.execute(body) }
  }
}
