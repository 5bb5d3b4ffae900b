import H2
import NIOCore

/// One server-side call on one HTTP/2 stream: validates the request headers, deframes messages,
/// runs the handler task and writes the response. All state lives on the connection's event loop;
/// the handler task runs there too (see `EventLoopTaskExecutor`), and the few entry points it
/// calls hop to the loop only if it has moved elsewhere.
final class ServerCall: H2StreamDelegate, @unchecked Sendable {
  /// Queued request bytes above which flow-control credit is held back until the handler reads.
  static let inboundQueueLimit = 256 << 10

  let stream: H2Stream
  let connection: ServerConnection
  let loop: any EventLoop

  private var route: RPCRouter.Route?
  private var context: ServerContext?
  private var deframer: MessageDeframer
  private var inbound = InboundQueue()
  private var requestEncoding: MessageEncoding?
  private var inboundQueuedBytes = 0
  private var heldCredit = 0
  private var inboundWaiter: CheckedContinuation<ByteBuffer?, any Error>?
  private var writeWaiter: CheckedContinuation<Void, any Error>?
  /// What may happen next (the call's state machine); the flags it replaced live there.
  private var state = ServerCallState()
  private var task: Task<Void, Never>?
  private var deadlineTimer: Scheduled<Void>?

  init(stream: H2Stream, connection: ServerConnection) {
    self.stream = stream
    self.connection = connection
    self.loop = connection.eventLoop
    self.deframer = MessageDeframer(maxMessageSize: connection.server.configuration.maxReceiveMessageSize)
  }

  // MARK: H2 events

  func h2Stream(_ stream: H2Stream, receivedHeaders headers: [H2Header], endStream: Bool) {
    if state.headersReceived() == .validate { begin(headers) }
    if endStream { endOfRequest() }
  }

  func h2Stream(_ stream: H2Stream, receivedData data: ByteBuffer, endStream: Bool) {
    let n = data.readableBytes
    guard state.dataReceived() == .deframe, let route else {
      stream.consume(n)
      return
    }
    deframer.append(data)
    do {
      while var message = try deframer.next() {
        let compressed = deframer.lastCompressed
        if compressed {
          // Inflated here, never past the message limit: a zip bomb stops at it.
          do {
            message = try Compression.decompress(message, limit: deframer.maxMessageSize)
          } catch is Compression.TooLarge {
            stream.consume(n)
            fail(
              RPCError(
                code: .resourceExhausted,
                message: "decompressed message exceeds the limit of \(deframer.maxMessageSize) bytes"))
            return
          } catch {
            stream.consume(n)
            fail(
              RPCError(code: .internal, message: "could not decompress a \(requestEncoding?.rawValue ?? "") message"))
            return
          }
        }
        inbound.append(message, compressed: compressed)
        inboundQueuedBytes += message.readableBytes
      }
    } catch .tooLarge(let length) {
      stream.consume(n)
      fail(
        RPCError(
          code: .resourceExhausted,
          message: "message of \(length) bytes exceeds the limit of \(deframer.maxMessageSize) bytes"))
      return
    } catch {
      stream.consume(n)
      fail(RPCError(code: .internal, message: "compressed message without grpc-encoding"))
      return
    }
    if state.messageReceived(queued: inbound.count) == .tooMany {
      stream.consume(n)
      fail(RPCError(code: .internal, message: "more than one request message for \(route.descriptor.kind) call"))
      return
    }
    if inboundQueuedBytes <= Self.inboundQueueLimit {
      stream.consume(n)
    } else {
      heldCredit += n
    }
    if let waiter = inboundWaiter, let message = popInbound() {
      inboundWaiter = nil
      dequeued(message)
      waiter.resume(returning: message)
    }
    if endStream { endOfRequest() }
  }

  func h2Stream(_ stream: H2Stream, closedWith error: H2ErrorCode) {
    // Reset by the peer, or the connection went away, before we answered.
    guard state.peerClosed() == .cancelHandler else { return }
    deadlineTimer?.cancel()
    task?.cancel()
    failWaiters(CancellationError())
  }

  func h2StreamBecameWritable(_ stream: H2Stream) {
    if let waiter = writeWaiter {
      writeWaiter = nil
      waiter.resume()
    }
  }

  // MARK: Request

  private func begin(_ headers: [H2Header]) {
    var method: String?
    var path: String?
    var contentType: String?
    var timeout: String?
    var encoding: String?
    var acceptEncoding: String?
    var metadata = Metadata()
    for h in headers {
      switch h.name {
      case ":method": method = h.value
      case ":path": path = h.value
      case "content-type": contentType = h.value
      case "grpc-timeout": timeout = h.value
      case "grpc-encoding": encoding = h.value
      case "grpc-accept-encoding": acceptEncoding = h.value
      default:
        if Metadata.isReserved(h.name) { continue }
        if h.name.hasSuffix("-bin") {
          guard let bytes = Base64.decode(h.value) else {
            return fail(RPCError(code: .internal, message: "metadata \(h.name) is not base64"))
          }
          metadata.elements.append(Metadata.Element(key: h.name, value: .binary(bytes)))
        } else {
          metadata.elements.append(Metadata.Element(key: h.name, value: .string(h.value)))
        }
      }
    }
    let refused = connection.server.configuration.onRefusedCall
    guard method == "POST" else {
      refused?(.notGRPC)
      return respondHTTP(status: "405", message: "gRPC requires POST")
    }
    guard let contentType, Self.isGRPCContentType(contentType) else {
      refused?(.notGRPC)
      return respondHTTP(status: "415", message: "content-type must be application/grpc")
    }
    guard let path, let route = connection.server.router.routes[path] else {
      refused?(.unknownMethod)
      return fail(RPCError(code: .unimplemented, message: "method not found: \(path ?? "(none)")"))
    }
    if let encoding, encoding != "identity" {
      guard let known = MessageEncoding(rawValue: encoding) else {
        refused?(.unsupportedEncoding)
        return fail(
          RPCError(code: .unimplemented, message: "message encoding \(encoding) is not supported"),
          extra: [H2Header("grpc-accept-encoding", "identity," + MessageEncoding.acceptHeader)])
      }
      requestEncoding = known
      deframer.allowCompressed = true
    }
    var deadline: NIODeadline?
    if let timeout {
      guard let ns = GRPCTimeout.parse(timeout) else {
        return fail(RPCError(code: .internal, message: "malformed grpc-timeout: \(timeout)"))
      }
      let d = NIODeadline.now() + .nanoseconds(min(ns, Int64.max / 2))
      deadline = d
      deadlineTimer = loop.scheduleTask(deadline: d) { [self] in
        fail(RPCError(code: .deadlineExceeded, message: "deadline exceeded"))
      }
    }
    self.route = route
    let context = ServerContext(
      descriptor: route.descriptor, requestMetadata: metadata, deadline: deadline,
      peer: connection.peer)
    if requestEncoding != nil || acceptEncoding != nil {
      let accepted = MessageEncoding.accepted(acceptEncoding)
      context.requestEncoding = requestEncoding
      context.responseEncoding = requestEncoding.flatMap { accepted.contains($0) ? $0 : nil } ?? accepted.first
      context.compressResponses = requestEncoding != nil
    }
    self.context = context
    if state.accepted(singleRequest: route.descriptor.kind.isSingleRequest) == .startHandler { startHandler() }
  }

  static func isGRPCContentType(_ value: String) -> Bool {
    guard value.hasPrefix("application/grpc") else { return false }
    let rest = value.utf8.dropFirst(16)
    return rest.isEmpty || rest.first == UInt8(ascii: "+") || rest.first == UInt8(ascii: ";")
  }

  private func endOfRequest() {
    switch state.requestEnded(partialMessage: deframer.hasPartialMessage, queued: inbound.count) {
    case .none: break
    case .fail(let message): fail(RPCError(code: .internal, message: message))
    case .startHandler: startHandler()
    case .wakeReader:
      if let waiter = inboundWaiter, inbound.isEmpty {
        inboundWaiter = nil
        waiter.resume(returning: nil)
      }
    }
  }

  /// The next queued request message; the context learns whether it came compressed.
  private func popInbound() -> ByteBuffer? {
    guard let (message, compressed) = inbound.popFirst() else { return nil }
    context?.lastRequestCompressed = compressed
    return message
  }

  private func dequeued(_ message: ByteBuffer) {
    inboundQueuedBytes -= message.readableBytes
    if heldCredit > 0 && inboundQueuedBytes <= Self.inboundQueueLimit {
      stream.consume(heldCredit)
      heldCredit = 0
    }
  }

  // MARK: Handler

  private func startHandler() {
    // Called once, when the state machine says so.
    guard let route, let context else { return }
    let interceptors = connection.server.configuration.interceptors
    // Starts on this thread, inside the read that completed the request: a handler that does
    // not suspend answers before the read's flush, with no hop. After a suspension it resumes on
    // the connection's event loop (the task's executor preference).
    task = Task.immediate(executorPreference: connection.executor) {
      var outcome: RPCError?
      do {
        try await intercepting(interceptors[...], context: context) { ctx in
          try await route.run(self, ctx)
        }
      } catch let error as RPCError {
        outcome = error
      } catch let error as any RPCErrorConvertible {
        outcome = error.rpcError
      } catch is CancellationError {
        outcome = RPCError(code: .cancelled, message: "call cancelled")
      } catch  where Task.isCancelled {
        // The call was cancelled or ran past its deadline, and what it awaited failed because of it
        // (e.g. a query cancelled on the server): not a handler failure.
        outcome = RPCError(code: .cancelled, message: "call cancelled")
      } catch let error as any RPCErrorMappable where error.mappedRPCError != nil {
        outcome = error.mappedRPCError
      } catch {
        // A bug or an unexpected failure: the caller gets a correlation id, the log the error.
        let id = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        self.connection.server.logger.error(
          "handler failed",
          metadata: ["method": "\(route.descriptor.path)", "error": "\(error)", "correlation_id": "\(id)"])
        outcome = RPCError(code: .internal, message: "internal error (correlation id \(id))")
      }
      let result = outcome
      self.onLoop { self.finish(result, trailing: context.trailingMetadata) }
    }
  }

  /// The one request of a unary or server-streaming call (queued before the handler started).
  func singleRequest() async throws -> ByteBuffer {
    try await onLoopAsync {
      guard let message = self.popInbound() else { throw CancellationError() }
      self.dequeued(message)
      return message
    }
  }

  /// The next request message of a streaming call, nil after the client's last.
  func nextRequest() async throws -> ByteBuffer? {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<ByteBuffer?, any Error>) in
      onLoop {
        switch self.state.nextRequest(queued: !self.inbound.isEmpty) {
        case .deliver:
          let message = self.popInbound()!
          self.dequeued(message)
          c.resume(returning: message)
        case .cancelled: c.resume(throwing: CancellationError())
        case .endOfStream: c.resume(returning: nil)
        case .wait: self.inboundWaiter = c
        }
      }
    }
  }

  /// Queues one framed response message, sending the response headers first; waits while the
  /// stream is over its high watermark.
  func send(_ frame: ByteBuffer, context: ServerContext) async throws {
    if loop.inEventLoop {
      try enqueue(frame, context: context)
      if stream.isWritable { return }
    }
    let alreadyQueued = loop.inEventLoop
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
      onLoop {
        do {
          if !alreadyQueued { try self.enqueue(frame, context: context) }
          if self.state.isClosed { throw CancellationError() }
          if self.stream.isWritable { c.resume() } else { self.writeWaiter = c }
        } catch {
          c.resume(throwing: error)
        }
      }
    }
  }

  private func enqueue(_ frame: ByteBuffer, context: ServerContext) throws {
    let encoding = context.compressResponses ? context.responseEncoding : nil
    switch state.write(wantsEncoding: encoding != nil) {
    case .refuse:
      throw CancellationError()
    case .sendHeadersAndMessage(let announce):
      var headers = Self.responseHeaders
      // The encoding is named once, with the headers: later messages may still go uncompressed.
      if announce, let encoding { headers.append(H2Header("grpc-encoding", encoding.rawValue)) }
      append(context.initialMetadata, to: &headers)
      stream.sendHeaders(headers, endStream: false)
      stream.sendData(Self.encoded(frame, announce ? encoding : nil))
    case .sendMessage(let compressible):
      stream.sendData(Self.encoded(frame, compressible ? encoding : nil))
    }
  }

  /// The frame compressed with `encoding`, or as it is without one.
  private static func encoded(_ frame: ByteBuffer, _ encoding: MessageEncoding?) -> ByteBuffer {
    encoding.map { Compression.compressFrame(frame, $0) } ?? frame
  }

  // MARK: Ending

  /// Ends the call with an error status and stops the handler.
  private func fail(_ error: RPCError, extra: [H2Header] = []) {
    finish(error, trailing: [:], extra: extra)
    task?.cancel()
    failWaiters(CancellationError())
  }

  private func finish(_ error: RPCError?, trailing: Metadata, extra: [H2Header] = []) {
    let action = state.finish()
    guard action != .none else { return }
    deadlineTimer?.cancel()
    if error == nil && extra.isEmpty && trailing.isEmpty && action == .sendTrailers {
      // The common end of a call: one shared list, nothing to build.
      stream.sendTrailers(Self.okTrailers)
      return
    }
    var trailers: [H2Header] = action == .sendTrailersOnly ? Self.responseHeaders : []
    trailers += extra
    if let error {
      trailers.append(H2Header("grpc-status", String(error.code.rawValue)))
      // Bounded, so that the response's headers always fit what a peer accepts (8 KiB is
      // grpc's smallest default): the message is cut to 1 KiB, details over 4 KiB are dropped.
      if !error.message.isEmpty {
        trailers.append(H2Header("grpc-message", PercentEncoding.encode(Self.capped(error.message, bytes: 1024))))
      }
      if let details = error.details, details.count <= 4096 {
        trailers.append(H2Header("grpc-status-details-bin", Base64.encode(details)))
      }
      append(error.metadata, to: &trailers)
    } else {
      trailers.append(H2Header("grpc-status", "0"))
    }
    append(trailing, to: &trailers)
    if action == .sendTrailers {
      stream.sendTrailers(trailers)
    } else {
      stream.sendHeaders(trailers, endStream: true)
    }
  }

  /// The response headers every call starts with, and the trailers of a call that succeeded with
  /// no trailing metadata (shared: building them was an allocation per call).
  static let responseHeaders = [H2Header(":status", "200"), H2Header("content-type", "application/grpc")]
  static let okTrailers = [H2Header("grpc-status", "0")]

  /// `message` cut to at most `bytes` UTF-8 bytes on a character boundary, marked when cut.
  static func capped(_ message: String, bytes: Int) -> String {
    if message.utf8.count <= bytes { return message }
    var out = ""
    var used = 0
    for scalar in message.unicodeScalars {
      let n = UTF8.width(scalar)
      if used + n > bytes - 3 { break }
      out.unicodeScalars.append(scalar)
      used += n
    }
    return out + "…"
  }

  private func respondHTTP(status: String, message: String) {
    guard state.finish() != .none else { return }
    stream.sendHeaders(
      [
        H2Header(":status", status), H2Header("content-type", "text/plain"),
        H2Header("grpc-status", String(Status.Code.internal.rawValue)),
        H2Header("grpc-message", PercentEncoding.encode(message)),
      ], endStream: true)
  }

  private func failWaiters(_ error: any Error) {
    if let w = inboundWaiter {
      inboundWaiter = nil
      w.resume(throwing: error)
    }
    if let w = writeWaiter {
      writeWaiter = nil
      w.resume(throwing: error)
    }
  }

  private func append(_ metadata: Metadata, to headers: inout [H2Header]) {
    for e in metadata.elements where !Metadata.isReserved(e.key) {
      switch e.value {
      case .string(let s): headers.append(H2Header(e.key, s))
      case .binary(let b): headers.append(H2Header(e.key, Base64.encode(b)))
      }
    }
  }

  // MARK: Loop hops

  private func onLoop(_ body: @escaping @Sendable () -> Void) {
    if loop.inEventLoop { body() } else { loop.execute(body) }
  }

  private func onLoopAsync<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    if loop.inEventLoop { return try body() }
    return try await loop.submit(body).get()
  }
}

/// The request messages a call has received and its handler not yet read, with whether each came
/// compressed. Most calls carry one message, which is held without allocating.
struct InboundQueue {
  /// The oldest message; nil only when the queue is empty.
  private var head: (message: ByteBuffer, compressed: Bool)?
  private var rest: CircularBuffer<(message: ByteBuffer, compressed: Bool)>?

  var count: Int { head == nil ? 0 : 1 + (rest?.count ?? 0) }
  var isEmpty: Bool { head == nil }

  mutating func append(_ message: ByteBuffer, compressed: Bool) {
    if head == nil {
      head = (message, compressed)
    } else {
      if rest == nil { rest = CircularBuffer(initialCapacity: 4) }
      rest!.append((message, compressed))
    }
  }

  mutating func popFirst() -> (message: ByteBuffer, compressed: Bool)? {
    guard let first = head else { return nil }
    head = rest?.popFirst()
    return first
  }
}
