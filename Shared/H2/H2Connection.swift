import CNGHTTP2
import NIOCore
#if canImport(Glibc)
  import Glibc
#endif

/// The thin nghttp2 wrapper: one `nghttp2_session` per connection inside a NIO channel handler.
///
/// Bytes read from the channel are fed to `nghttp2_session_mem_recv`; nghttp2's callbacks only
/// record what happened (headers, data, end, reset) and the recorded events are dispatched to
/// stream delegates once nghttp2 has returned, so no delegate ever runs inside nghttp2. Frames
/// are drained with `nghttp2_session_mem_send` while the channel is writable, which is what gives
/// back-pressure: a peer that stops reading stops the data providers being asked for more.
public final class H2Connection: ChannelInboundHandler, RemovableChannelHandler {
  public typealias InboundIn = ByteBuffer
  public typealias OutboundOut = ByteBuffer

  public enum Role: Sendable { case server, client }

  enum Event {
    case headers(H2Stream, [H2Header], endStream: Bool)
    case data(H2Stream, endStream: Bool)
    case closed(H2Stream, H2ErrorCode)
    case writable(H2Stream)
    case goAway(Int32, H2ErrorCode)
    case pingAck(UInt64)
  }

  public let role: Role
  public let settings: H2Settings
  public weak var delegate: (any H2ConnectionDelegate)?

  var session: OpaquePointer?
  private(set) var context: ChannelHandlerContext?
  var streams: [Int32: H2Stream] = [:]
  var events: [Event] = []
  private var insideNGHTTP2 = false
  private var inRead = false
  private var flushScheduled = false
  private var needsFlush = false
  private var orphanBytes = 0
  /// Open, draining after a GOAWAY, or closed (the connection's lifecycle state machine).
  private var lifecycle = H2ConnectionLifecycle()
  private var closed: Bool { lifecycle.isClosed }
  /// Why the connection closed (for errors and logs).
  var closeReason: String { lifecycle.closeReason }
  private var allocator = ByteBufferAllocator()
  private var outBuffer: ByteBuffer
  private var emptyBuffer: ByteBuffer
  /// The stream the last callback was about: callbacks come in runs for one stream.
  private var lastStream: H2Stream?
  /// The bytes being fed to `mem_recv`, so DATA payloads can be sliced from them, not copied.
  private var currentInput: ByteBuffer?
  private var currentInputBase: UnsafeRawPointer?
  /// Scratch memory for name/value arrays handed to nghttp2 (which copies them).
  private var scratch = UnsafeMutableRawBufferPointer(start: nil, count: 0)
  private var scratchNV = UnsafeMutableBufferPointer<nghttp2_nv>(start: nil, count: 0)

  /// The number of streams currently open.
  public var openStreamCount: Int { streams.count }

  /// Called on the event loop after each read has been processed and its answers flushed or
  /// queued for the end of the loop's round.
  public var onReadComplete: (() -> Void)?

  public init(role: Role, settings: H2Settings = H2Settings(), delegate: (any H2ConnectionDelegate)?) {
    self.role = role
    self.settings = settings
    self.delegate = delegate
    self.outBuffer = allocator.buffer(capacity: 0)
    self.emptyBuffer = allocator.buffer(capacity: 0)
  }

  deinit {
    if let session { nghttp2_session_del(session) }
    scratch.deallocate()
    scratchNV.deallocate()
  }

  // MARK: Channel lifecycle

  public func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    self.allocator = context.channel.allocator
    self.outBuffer = allocator.buffer(capacity: 16 << 10)
    self.emptyBuffer = allocator.buffer(capacity: 0)
    if context.channel.isActive { start() }
  }

  public func channelActive(context: ChannelHandlerContext) {
    start()
    context.fireChannelActive()
  }

  public func handlerRemoved(context: ChannelHandlerContext) {
    connectionLost()
    self.context = nil
  }

  public func channelInactive(context: ChannelHandlerContext) {
    connectionLost()
    context.fireChannelInactive()
  }

  public func channelWritabilityChanged(context: ChannelHandlerContext) {
    if context.channel.isWritable { flush() }
    context.fireChannelWritabilityChanged()
  }

  public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard session != nil, !closed else { return }
    let buffer = unwrapInboundIn(data)
    if let round = readRound, round.members > 1 {
      if heldInput == nil && buffer.readableBytes <= Self.roundReadLimit {
        // Served when the round runs, in the order of the round (H2ReadRound).
        heldInput = buffer
        if !inRound {
          inRound = true
          round.add(self)
        }
        return
      }
      // A second read in one round, or a large one, is a bulk transfer, where the order of
      // service matters less than memory: the held read is served now, and this one after it
      // (the round still flushes the answers), so a round holds at most one small read per
      // connection.
      if let held = heldInput {
        heldInput = nil
        receive(held)
        guard session != nil, !closed else { return }
      }
    }
    receive(buffer)
  }

  /// The largest read a round holds back (`H2ReadRound`): a unary request's size.
  public static let roundReadLimit = 16 << 10

  public func channelReadComplete(context: ChannelHandlerContext) {
    if !inRound { answerReads() }
    onReadComplete?()
    context.fireChannelReadComplete()
  }

  /// Input held for the read round, served now (`H2ReadRound`).
  func serveRound() {
    inRound = false
    if let round = readRound { lastServed = round.nextTick() }
    if let held = heldInput {
      heldInput = nil
      if !closed { receive(held) }
    }
    answerReads()
  }

  /// The read round this connection is served in, if any (set before the channel is active).
  public var readRound: H2ReadRound? {
    didSet {
      oldValue?.members -= 1
      readRound?.members += 1
    }
  }
  /// The round's tick when this connection was last served.
  var lastServed: UInt64 = 0
  private var inRound = false
  /// The read held for the round, if any.
  private var heldInput: ByteBuffer?

  /// Flushes (or queues for the end of the round) the answers to what was just read.
  private func answerReads() {
    guard needsFlush else { return }
    if role == .server && streams.count > 1 {
      // Several calls in flight: their answers go out once the event loop has served every
      // connection that was ready, in one write per connection per round (measured before read
      // rounds: 16×32's p99 a third lower, req/s 2–4 % higher). One call in flight is answered at once:
      // deferring that costs a round trip's worth of idle time per round (16×1 lost 3–6 % of its
      // req/s).
      needsFlush = false
      requestFlush()
    } else {
      flush()
    }
  }

  private func receive(_ buffer: ByteBuffer) {
    guard let session else { return }
    inRead = true
    insideNGHTTP2 = true
    currentInput = buffer
    let rv = buffer.withUnsafeReadableBytes { bytes in
      currentInputBase = UnsafeRawPointer(bytes.baseAddress)
      return nghttp2_session_mem_recv(
        session, bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count)
    }
    currentInput = nil
    currentInputBase = nil
    insideNGHTTP2 = false
    if orphanBytes > 0 {
      connectionCall(nghttp2_session_consume_connection(session, orphanBytes), "WINDOW_UPDATE (connection)")
      orphanBytes = 0
    }
    dispatchEvents()
    inRead = false
    needsFlush = true
    if tooManyPings && rv >= 0 {
      tooManyPings = false
      // Keepalive enforcement: GOAWAY ENHANCE_YOUR_CALM, as gRPC servers say it, then close.
      goAway(error: .enhanceYourCalm, debugData: "too_many_pings")
      flush()
      close(reason: "too many pings")
      return
    }
    if rv < 0, let session = self.session {
      // Fatal for the connection (bad preface, flooding, a reused stream id, ...): say GOAWAY with
      // the error RFC 9113 names, if we can, then close.
      let code = connectionError ?? .protocolError
      _ = nghttp2_session_terminate_session(session, code.rawValue)
      flush()
      close(reason: connectionErrorReason ?? "nghttp2 error \(H2Connection.errorName(Int32(rv)))")
    }
  }

  public func errorCaught(context: ChannelHandlerContext, error: any Error) {
    close(reason: "channel error: \(error)")
  }

  // MARK: Public operations (event loop only)

  /// Opens a client stream with request `headers`. With `endStream` the request has no body.
  public func openStream(
    headers: [H2Header], endStream: Bool, delegate: any H2StreamDelegate
  ) throws -> H2Stream {
    precondition(role == .client, "only a client opens streams")
    precondition(!insideNGHTTP2, "openStream called from inside nghttp2")
    guard !closed else { throw H2Error.closed(closeReason) }
    if session == nil { start() }  // connected, but channelActive not seen yet
    guard let session else { throw H2Error.notStarted }
    let streamID: Int32 = withNameValues(headers) { nva, count in
      if endStream {
        return nghttp2_submit_request(session, nil, nva, count, nil, nil)
      }
      var provider = nghttp2_data_provider()
      provider.read_callback = h2ReadCallback
      return nghttp2_submit_request(session, nil, nva, count, &provider, nil)
    }
    guard streamID > 0 else {
      throw streamID == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE.rawValue
        ? H2Error.streamIDsExhausted : H2Error.nghttp2(Int(streamID))
    }
    let stream = H2Stream(id: streamID, connection: self, empty: emptyBuffer)
    stream.delegate = delegate
    stream.headersSent = true
    stream.providerAttached = !endStream
    stream.endAfterData = endStream
    streams[streamID] = stream
    requestFlush()
    return stream
  }

  /// Sends a PING carrying `opaque`.
  public func ping(_ opaque: UInt64) {
    guard let session, !closed else { return }
    var value = opaque.bigEndian
    let rv = withUnsafeBytes(of: &value) { raw in
      nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), raw.bindMemory(to: UInt8.self).baseAddress)
    }
    guard connectionCall(rv, "PING") else { return }
    requestFlush()
  }

  /// Starts a graceful shutdown: a server first announces GOAWAY with the maximum stream id and,
  /// after one round trip, the last stream it accepted; open streams finish, new ones are refused,
  /// and the channel closes once the last stream ends.
  public func goAway(error: H2ErrorCode = .noError, debugData: String = "") {
    if tracing {
      trace(
        "\(role) goAway() called local=\(context?.channel.localAddress?.port ?? -1) remote=\(context?.channel.remoteAddress?.port ?? -1)"
      )
    }
    guard let session, !closed else { return }
    switch lifecycle.goAway(server: role == .server, graceful: error == .noError) {
    case .none: return
    case .sendNoticeAndPing:
      guard connectionCall(nghttp2_submit_shutdown_notice(session), "GOAWAY (shutdown notice)") else { return }
      ping(Self.shutdownPingOpaque)
    case .sendGoAway:
      let rv = debugData.withCString { text in
        nghttp2_submit_goaway(
          session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
          error.rawValue, UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self), strlen(text))
      }
      guard connectionCall(rv, "GOAWAY") else { return }
    }
    requestFlush()
  }

  static let shutdownPingOpaque: UInt64 = 0x7475_6f79_7567_6f61

  /// Whether `goAway()` has been called on this connection.
  public var isGoingAway: Bool { lifecycle.isGoingAway }

  /// Closes the channel now.
  public func close(reason: String = "closed locally") {
    guard let context, lifecycle.close(reason: reason) else { return }
    stopLimits()
    if tracing {
      trace(
        "\(role) close: \(reason) local=\(context.channel.localAddress?.port ?? -1) remote=\(context.channel.remoteAddress?.port ?? -1) streams=\(streams.count)"
      )
    }
    context.close(promise: nil)
  }

  /// Whether a connection-level nghttp2 call succeeded; when it did not, the connection cannot
  /// be trusted to say what it must, so it is closed with the reason (a fatal error, such as no
  /// memory, or a state nghttp2 refuses).
  @discardableResult
  func connectionCall(_ rv: Int32, _ what: String) -> Bool {
    guard rv < 0 else { return true }
    // The session is already closing (GOAWAY sent or received): nothing more to say.
    if rv == NGHTTP2_ERR_SESSION_CLOSING.rawValue { return false }
    close(reason: "nghttp2 refused \(what): \(H2Connection.errorName(rv))")
    return false
  }

  /// Whether a stream-level nghttp2 call succeeded; when it did not, the stream is reset (a
  /// fatal error closes the connection). A stream that is closed or closing needs nothing more.
  @discardableResult
  func streamCall(_ rv: Int32, _ what: String, _ stream: H2Stream) -> Bool {
    guard rv < 0 else { return true }
    if nghttp2_is_fatal(rv) != 0 {
      close(reason: "nghttp2 failed \(what) on stream \(stream.id): \(H2Connection.errorName(rv))")
      return false
    }
    if rv == NGHTTP2_ERR_STREAM_CLOSED.rawValue || rv == NGHTTP2_ERR_STREAM_CLOSING.rawValue
      || rv == NGHTTP2_ERR_SESSION_CLOSING.rawValue || stream.isClosed
    {
      return false
    }
    if tracing { trace("\(role) \(what) failed on stream \(stream.id): \(H2Connection.errorName(rv)); resetting") }
    if let session {
      let reset = nghttp2_submit_rst_stream(
        session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, H2ErrorCode.internalError.rawValue)
      if reset < 0 { connectionCall(reset, "RST_STREAM") }
    }
    requestFlush()
    return false
  }

  /// nghttp2's name for an error code.
  static func errorName(_ rv: Int32) -> String {
    "\(String(cString: nghttp2_strerror(rv))) (\(rv))"
  }

  // MARK: Internals used by H2Stream

  func submitHeaders(_ stream: H2Stream, _ headers: [H2Header], endStream: Bool) {
    guard let session else { return }
    let rv: Int32 = withNameValues(headers) { nva, count in
      if !stream.headersSent && role == .server {
        if endStream {
          return nghttp2_submit_response(session, stream.id, nva, count, nil)
        }
        var provider = nghttp2_data_provider()
        provider.read_callback = h2ReadCallback
        stream.providerAttached = true
        return nghttp2_submit_response(session, stream.id, nva, count, &provider)
      }
      let flags = endStream ? UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) : UInt8(NGHTTP2_FLAG_NONE.rawValue)
      return nghttp2_submit_headers(session, flags, stream.id, nil, nva, count, nil)
    }
    guard streamCall(rv, "HEADERS", stream) else { return }
    stream.headersSent = true
    if endStream { stream.endAfterData = true }
    if role == .server { resetPingStrikes = true }
    requestFlush()
  }

  func dataQueued(_ stream: H2Stream) {
    guard let session else { return }
    if !stream.providerAttached {
      // Data before headers on a server stream: headers must come first.
      return
    }
    if stream.deferred {
      stream.deferred = false
      let rv = nghttp2_session_resume_data(session, stream.id)
      // INVALID_ARGUMENT: the stream is gone or has nothing deferred — nothing to resume.
      if rv != NGHTTP2_ERR_INVALID_ARGUMENT.rawValue { streamCall(rv, "resume DATA", stream) }
    }
    if role == .server { resetPingStrikes = true }
    requestFlush()
  }

  func resetStream(_ stream: H2Stream, _ code: H2ErrorCode) {
    guard let session else { return }
    let rv = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, code.rawValue)
    guard connectionCall(rv, "RST_STREAM") else { return }
    requestFlush()
  }

  func consume(streamID: Int32, count: Int) {
    guard let session, !closed else { return }
    guard connectionCall(nghttp2_session_consume(session, streamID, count), "WINDOW_UPDATE (consume)") else { return }
    requestFlush()
  }

  // MARK: Session

  private func start() {
    guard session == nil, let context else { return }
    var callbacks: OpaquePointer?
    nghttp2_session_callbacks_new(&callbacks)
    defer { nghttp2_session_callbacks_del(callbacks) }
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, h2OnBeginHeaders)
    nghttp2_session_callbacks_set_on_header_callback(callbacks, h2OnHeader)
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, h2OnFrameRecv)
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, h2OnDataChunkRecv)
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, h2OnStreamClose)
    nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks, h2OnFrameNotSend)
    if role == .server {
      nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, h2OnBeginFrame)
      nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, h2OnFrameSend)
    }

    var option: OpaquePointer?
    nghttp2_option_new(&option)
    defer { nghttp2_option_del(option) }
    nghttp2_option_set_no_auto_window_update(option, 1)
    nghttp2_option_set_no_closed_streams(option, 1)
    if role == .server {
      nghttp2_option_set_stream_reset_rate_limit(option, settings.resetBurst, settings.resetRate)
    }

    let user = Unmanaged.passUnretained(self).toOpaque()
    var s: OpaquePointer?
    let rv =
      role == .server
      ? nghttp2_session_server_new2(&s, callbacks, user, option)
      : nghttp2_session_client_new2(&s, callbacks, user, option)
    guard rv == 0, let s else {
      context.close(promise: nil)
      return
    }
    session = s
    var entries = [
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
        value: settings.maxConcurrentStreams),
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
        value: settings.initialWindowSize),
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: settings.maxFrameSize),
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
        value: settings.maxHeaderListSize),
    ]
    if role == .client {
      entries.append(
        nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
    }
    guard
      connectionCall(
        nghttp2_submit_settings(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count), "SETTINGS"),
      connectionCall(
        nghttp2_session_set_local_window_size(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, settings.connectionWindowSize),
        "connection window")
    else { return }
    startLimits()
    flush()
  }

  private func requestFlush() {
    if inRead {
      needsFlush = true
      return
    }
    guard !flushScheduled, let context else { return }
    flushScheduled = true
    let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
    context.eventLoop.execute {
      connection.value.flushScheduled = false
      connection.value.flush()
    }
  }

  /// Drains nghttp2's output into the channel while it is writable, dispatching any events that
  /// sending produced (a stream closes once its last frame is sent).
  func flush() {
    // A write can fire writability events that call back here: let the outer flush finish
    // (re-entering would write `outBuffer` twice).
    if inFlush {
      needsFlush = true
      return
    }
    inFlush = true
    defer { inFlush = false }
    repeat {
      needsFlush = false
      flushOnce()
    } while needsFlush && session != nil && !closed
  }

  private var inFlush = false

  private func flushOnce() {
    guard self.session != nil, let context, !insideNGHTTP2 else { return }
    var wrote = false
    while context.channel.isWritable || !wrote {
      // Re-read each time: a write or a delegate may have closed the channel and freed it.
      guard let session = self.session else { return }
      var data: UnsafePointer<UInt8>?
      insideNGHTTP2 = true
      let n = nghttp2_session_mem_send(session, &data)
      insideNGHTTP2 = false
      if n < 0 {
        close(reason: "nghttp2 send error \(n)")
        return
      }
      if n == 0 {
        if !unsentHeaders.isEmpty {
          resetUnsent()
          continue
        }
        if events.isEmpty { break }
        dispatchEvents()
        continue
      }
      outBuffer.writeBytes(UnsafeRawBufferPointer(start: data, count: n))
      if outBuffer.readableBytes >= 64 << 10 {
        context.write(wrapOutboundOut(outBuffer), promise: nil)
        outBuffer = allocator.buffer(capacity: 16 << 10)
        wrote = true
      }
      if !events.isEmpty { dispatchEvents() }
    }
    if outBuffer.readableBytes > 0 {
      context.write(wrapOutboundOut(outBuffer), promise: nil)
      outBuffer = allocator.buffer(capacity: 16 << 10)
      wrote = true
    }
    if wrote { context.flush() }
    if let session = self.session,
      nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0
    {
      close(reason: "session finished (GOAWAY and no open streams)")
    }
  }

  private func dispatchEvents() {
    while !events.isEmpty {
      let batch = events
      events.removeAll(keepingCapacity: true)
      for event in batch { dispatch(event) }
    }
  }

  private func dispatch(_ event: Event) {
    switch event {
    case .headers(let stream, let headers, let endStream):
      if stream.delegate == nil && role == .server && !stream.sawFirstHeaders {
        stream.sawFirstHeaders = true
        guard let d = delegate?.h2Connection(self, openedStream: stream) else {
          stream.reset(.refusedStream)
          return
        }
        stream.delegate = d
      }
      stream.delegate?.h2Stream(stream, receivedHeaders: headers, endStream: endStream)
    case .data(let stream, let endStream):
      let data = stream.inbound
      stream.inbound = emptyBuffer
      if let d = stream.delegate {
        d.h2Stream(stream, receivedData: data, endStream: endStream)
      } else {
        stream.consume(data.readableBytes)
      }
    case .closed(let stream, let code):
      if stream.unconsumed > 0, let session {
        connectionCall(nghttp2_session_consume_connection(session, stream.unconsumed), "WINDOW_UPDATE (connection)")
        stream.unconsumed = 0
      }
      let d = stream.delegate
      stream.delegate = nil
      d?.h2Stream(stream, closedWith: code)
    case .writable(let stream):
      stream.delegate?.h2StreamBecameWritable(stream)
    case .goAway(let last, let code):
      delegate?.h2Connection(self, receivedGoAway: last, error: code)
    case .pingAck(let opaque):
      switch lifecycle.pingAck(isShutdownPing: opaque == Self.shutdownPingOpaque) {
      case .none: break
      case .deliver: delegate?.h2Connection(self, receivedPingAck: opaque)
      case .sendFinalGoAway:
        guard let session else { break }
        guard
          connectionCall(
            nghttp2_submit_goaway(
              session, UInt8(NGHTTP2_FLAG_NONE.rawValue),
              nghttp2_session_get_last_proc_stream_id(session), H2ErrorCode.noError.rawValue, nil, 0), "GOAWAY")
        else { return }
        requestFlush()
      }
    }
  }

  private func connectionLost() {
    stopLimits()
    heldInput = nil
    if readRound != nil { readRound = nil }
    guard session != nil || !streams.isEmpty else { return }
    if lifecycle.lost() && tracing { trace("\(role) lost: open streams \(streams.count)") }
    dispatchEvents()
    let open = streams.values
    streams.removeAll()
    lastStream = nil
    for stream in open {
      stream.isClosed = true
      stream.lostReason = lifecycle.closeReason.isEmpty ? nil : lifecycle.closeReason
      let d = stream.delegate
      stream.delegate = nil
      d?.h2Stream(stream, closedWith: .connectError)
    }
    if let session {
      nghttp2_session_del(session)
      self.session = nil
    }
    delegate?.h2ConnectionClosed(self)
  }

  // MARK: Server limits (keepalive enforcement, idle and age, slowloris, stream ids)

  /// The event loop's clock (virtual in tests).
  private var now: NIODeadline { context?.eventLoop.now ?? .now() }

  /// Set inside a callback; acted on once nghttp2 has returned.
  private var tooManyPings = false
  private var connectionError: H2ErrorCode?
  private var connectionErrorReason: String?
  /// gRPC's keepalive enforcement: headers or data sent since the last PING forgive the strikes.
  var resetPingStrikes = false
  private var pingStrikes = 0
  private var lastPingAt: NIODeadline?
  /// The highest stream id the peer opened, and the stream ids recently reset (ring + set).
  private var highestPeerStream: Int32 = 0
  private var recentResets = Set<Int32>()
  private var recentResetOrder: [Int32] = []
  private var recentResetNext = 0
  private var sawFrame = false
  private var headerBlockSince: NIODeadline?
  private var idleTask: Scheduled<Void>?
  private var timers: [Scheduled<Void>] = []

  /// Starts the server's timers: the preface deadline, idle and age.
  private func startLimits() {
    guard role == .server, let context else { return }
    let loop = context.eventLoop
    let me = NIOLoopBound(self, eventLoop: loop)
    if let timeout = settings.headerTimeout {
      timers.append(
        loop.scheduleTask(in: timeout) {
          if !me.value.sawFrame { me.value.close(reason: "no HTTP/2 preface within \(timeout)") }
        })
    }
    if let age = settings.maxConnectionAge {
      // ±10 % so that connections made together do not all go at once.
      let jittered = TimeAmount.nanoseconds(Int64(Double(age.nanoseconds) * Double.random(in: 0.9...1.1)))
      let grace = settings.maxConnectionAgeGrace
      timers.append(
        loop.scheduleTask(in: jittered) {
          me.value.goAway(debugData: "max_age")
          me.value.timers.append(
            loop.scheduleTask(in: grace) { me.value.close(reason: "max connection age and grace passed") })
        })
    }
    scheduleIdle()
  }

  /// The connection has no open stream (since `idleSince`). One timer at a time watches it, re-armed
  /// from when the connection last went idle, so that a call's start and end schedule nothing.
  private func scheduleIdle() {
    guard role == .server, let idle = settings.maxConnectionIdle, streams.isEmpty, !closed else { return }
    idleSince = now
    guard idleTask == nil else { return }
    armIdle(idle, at: idleSince! + idle)
  }

  private var idleSince: NIODeadline?

  private func armIdle(_ idle: TimeAmount, at deadline: NIODeadline) {
    guard let context, !closed else { return }
    let me = NIOLoopBound(self, eventLoop: context.eventLoop)
    idleTask = context.eventLoop.scheduleTask(deadline: deadline) {
      let c = me.value
      c.idleTask = nil
      // Busy now: the next time it goes idle arms the timer again.
      guard let since = c.idleSince, c.streams.isEmpty else { return }
      if since + idle <= c.now {
        c.goAway(debugData: "max_idle")
      } else {
        c.armIdle(idle, at: since + idle)
      }
    }
  }

  private func stopLimits() {
    idleTask?.cancel()
    idleTask = nil
    headerTask?.cancel()
    headerTask = nil
    for t in timers { t.cancel() }
    timers.removeAll()
  }

  /// A frame header arrived (server): stream-id rules and the header-block deadline. Returns
  /// false for a connection error (the reason and code are kept for the GOAWAY).
  func beginFrame(type: UInt8, streamID: Int32, flags: UInt8) -> Bool {
    sawFrame = true
    let headers = UInt32(type) == NGHTTP2_HEADERS.rawValue
    let continuation = UInt32(type) == NGHTTP2_CONTINUATION.rawValue
    if let timeout = settings.headerTimeout {
      if headers {
        startHeaderDeadline(timeout)
      } else if !continuation {
        // CONTINUATION must follow its HEADERS at once: any other frame means the block ended
        // (processed, or ignored by nghttp2 for a refused stream).
        headerBlockSince = nil
      }
    }
    guard headers, streamID > 0, streamID & 1 == 1 else { return true }
    if streamID > highestPeerStream {
      highestPeerStream = streamID
      return true
    }
    // Not new: only an open stream (trailers) or one we reset (frames in flight) may carry it.
    if streams[streamID] != nil || recentResets.contains(streamID) { return true }
    connectionError = .protocolError
    connectionErrorReason =
      "HEADERS on stream \(streamID), which is not open and not above the highest stream opened (\(highestPeerStream)) — RFC 9113 §5.1.1"
    return false
  }

  /// A header block began now. One timer at a time checks the block in progress (re-armed for a
  /// later block), so a busy connection does not schedule a timer per request.
  private func startHeaderDeadline(_ timeout: TimeAmount) {
    headerBlockSince = now
    guard headerTask == nil else { return }
    armHeaderTask(timeout, at: headerBlockSince! + timeout)
  }

  private var headerTask: Scheduled<Void>?

  private func armHeaderTask(_ timeout: TimeAmount, at deadline: NIODeadline) {
    guard let context, !closed else { return }
    let me = NIOLoopBound(self, eventLoop: context.eventLoop)
    headerTask = context.eventLoop.scheduleTask(deadline: deadline) {
      let c = me.value
      c.headerTask = nil
      guard let since = c.headerBlockSince else { return }
      if since + timeout <= c.now {
        c.close(reason: "a header block was not completed within \(timeout)")
      } else {
        c.armHeaderTask(timeout, at: since + timeout)
      }
    }
  }

  func resetSent(streamID: Int32) {
    guard settings.rememberedResets > 0, !recentResets.contains(streamID) else { return }
    if recentResetOrder.count < settings.rememberedResets {
      recentResetOrder.append(streamID)
    } else {
      recentResets.remove(recentResetOrder[recentResetNext])
      recentResetOrder[recentResetNext] = streamID
      recentResetNext = (recentResetNext + 1) % recentResetOrder.count
    }
    recentResets.insert(streamID)
  }

  /// A client PING (server): gRPC's keepalive enforcement.
  func pingReceived() {
    guard role == .server, let minimum = settings.minPingInterval else { return }
    let now = self.now
    defer { lastPingAt = now }
    if resetPingStrikes {
      resetPingStrikes = false
      pingStrikes = 0
      return
    }
    let interval = streams.isEmpty && !settings.permitPingWithoutCalls ? TimeAmount.hours(2) : minimum
    if let last = lastPingAt, last + interval > now { pingStrikes += 1 }
    if pingStrikes > settings.maxPingStrikes { tooManyPings = true }
  }

  // MARK: Called from the C callbacks (inside nghttp2: record only)

  func beginHeaders(streamID: Int32, isRequest: Bool) {
    if isRequest && role == .server {
      let stream = H2Stream(id: streamID, connection: self, empty: emptyBuffer)
      streams[streamID] = stream
      idleSince = nil
    }
    if let stream = stream(streamID) {
      stream.pendingHeaders.removeAll(keepingCapacity: true)
      // A gRPC request carries about eight headers: one allocation rather than four as it grows.
      stream.pendingHeaders.reserveCapacity(12)
      stream.pendingHeaderBytes = 0
    }
  }

  /// Returns false when the header list passes the limit (the stream is then reset).
  func header(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Bool {
    guard let stream = stream(streamID) else { return true }
    stream.pendingHeaderBytes += name.count + value.count + 32
    if stream.pendingHeaderBytes > Int(settings.maxHeaderListSize) { return false }
    stream.pendingHeaders.append(H2Header(CommonHeaders.string(name), CommonHeaders.string(value)))
    return true
  }

  @inline(__always)
  private func stream(_ id: Int32) -> H2Stream? {
    if let s = lastStream, s.id == id { return s }
    let s = streams[id]
    lastStream = s
    return s
  }

  func headersComplete(streamID: Int32, endStream: Bool) {
    headerBlockSince = nil
    guard let stream = stream(streamID) else { return }
    let headers = stream.pendingHeaders
    stream.pendingHeaders = []
    events.append(.headers(stream, headers, endStream: endStream))
  }

  func dataChunk(streamID: Int32, bytes: UnsafeRawBufferPointer) {
    guard let stream = stream(streamID) else {
      orphanBytes += bytes.count
      return
    }
    stream.unconsumed += bytes.count
    // The payload usually lies inside the buffer being parsed: slice it instead of copying.
    if stream.inbound.readableBytes == 0, let input = currentInput, let base = currentInputBase,
      let start = bytes.baseAddress, start >= base,
      start + bytes.count <= base + input.readableBytes,
      let slice = input.getSlice(at: input.readerIndex + (start - base), length: bytes.count)
    {
      stream.inbound = slice
    } else {
      stream.inbound.writeBytes(bytes)
    }
  }

  func dataComplete(streamID: Int32, endStream: Bool) {
    guard let stream = stream(streamID) else { return }
    events.append(.data(stream, endStream: endStream))
  }

  /// Streams whose response HEADERS (or trailers) nghttp2 could not send: reset after the send
  /// loop (nghttp2 is not re-entered from its callbacks), so the peer never waits for them.
  private var unsentHeaders: [Int32] = []

  func headersNotSent(streamID: Int32, error: Int32) {
    // Only a server's response to a stream the peer opened: a client's request that never left
    // opened nothing to reset, and a stream already closed or closing needs nothing more.
    guard role == .server, error != NGHTTP2_ERR_STREAM_CLOSED.rawValue, error != NGHTTP2_ERR_STREAM_CLOSING.rawValue,
      error != NGHTTP2_ERR_SESSION_CLOSING.rawValue
    else { return }
    if tracing { trace("\(role) HEADERS not sent on stream \(streamID): nghttp2 error \(error); resetting") }
    unsentHeaders.append(streamID)
  }

  private func resetUnsent() {
    guard let session, !unsentHeaders.isEmpty else { return }
    for id in unsentHeaders {
      let rv = nghttp2_submit_rst_stream(
        session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_INTERNAL_ERROR.rawValue)
      if rv < 0 && !connectionCall(rv, "RST_STREAM") { break }
    }
    unsentHeaders.removeAll()
  }

  func streamClosed(streamID: Int32, code: UInt32) {
    guard let stream = streams.removeValue(forKey: streamID) else { return }
    if lastStream === stream { lastStream = nil }
    if streams.isEmpty { scheduleIdle() }
    stream.isClosed = true
    events.append(.closed(stream, H2ErrorCode(code)))
  }

  func goAwayReceived(lastStreamID: Int32, code: UInt32) {
    if tracing {
      trace(
        "\(role) GOAWAY received last=\(lastStreamID) code=\(code) local=\(context?.channel.localAddress?.port ?? -1) remote=\(context?.channel.remoteAddress?.port ?? -1)"
      )
    }
    events.append(.goAway(lastStreamID, H2ErrorCode(code)))
  }

  func pingAckReceived(_ opaque: UInt64) {
    events.append(.pingAck(opaque))
  }

  /// The data provider: copies up to `max` queued bytes of `streamID` into `buffer`.
  func readData(
    streamID: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: inout UInt32
  ) -> Int {
    guard let stream = stream(streamID) else {
      return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
    }
    let n = min(buffer.count, stream.outbound.readableBytes)
    if n > 0 {
      stream.outbound.withUnsafeReadableBytes { src in
        buffer.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: n)
      }
      stream.outbound.moveReaderIndex(forwardBy: n)
    }
    if stream.outbound.readableBytes == 0 {
      stream.outbound.clear()
      if stream.endAfterData {
        flags |= NGHTTP2_DATA_FLAG_EOF.rawValue
        if let trailers = stream.trailers, let session {
          stream.trailers = nil
          let rv = withNameValues(trailers) { nva, count in
            nghttp2_submit_trailer(session, streamID, nva, count)
          }
          // Trailers that cannot be queued: the stream is reset (INTERNAL_ERROR), never ended
          // without its status.
          guard rv == 0 else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
          flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
        }
      } else if n == 0 {
        stream.deferred = true
        return Int(NGHTTP2_ERR_DEFERRED.rawValue)
      }
    }
    if stream.aboveHighWatermark && stream.outbound.readableBytes < settings.streamHighWatermark / 2 {
      stream.aboveHighWatermark = false
      events.append(.writable(stream))
    }
    return n
  }
}

/// Errors of the H2 layer.
public enum H2Error: Error, Sendable, Equatable {
  case closed(String)
  case notStarted
  case streamIDsExhausted
  case nghttp2(Int)
}

extension H2Connection {
  /// Builds nghttp2's name/value array for `headers` in the connection's scratch memory (nghttp2
  /// copies what it keeps, so the memory is reused at once).
  func withNameValues<R>(
    _ headers: [H2Header], _ body: (UnsafePointer<nghttp2_nv>, Int) -> R
  ) -> R {
    var total = 0
    for h in headers { total += h.name.utf8.count + h.value.utf8.count }
    if scratch.count < total {
      scratch.deallocate()
      scratch = .allocate(byteCount: max(total, 1024), alignment: 1)
    }
    if scratchNV.count < headers.count {
      scratchNV.deallocate()
      scratchNV = .allocate(capacity: max(headers.count, 16))
    }
    var offset = 0
    let base = scratch.baseAddress!.assumingMemoryBound(to: UInt8.self)
    for (i, h) in headers.enumerated() {
      let nameStart = offset
      offset += copyUTF8(h.name, into: scratch, at: offset)
      let valueStart = offset
      offset += copyUTF8(h.value, into: scratch, at: offset)
      scratchNV[i] = nghttp2_nv(
        name: base + nameStart, value: base + valueStart, namelen: valueStart - nameStart,
        valuelen: offset - valueStart, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
    }
    return body(scratchNV.baseAddress!, headers.count)
  }
}

private func copyUTF8(_ s: String, into bytes: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
  var s = s
  return s.withUTF8 { utf8 in
    if utf8.count > 0 {
      (bytes.baseAddress! + offset).copyMemory(from: utf8.baseAddress!, byteCount: utf8.count)
    }
    return utf8.count
  }
}

/// `TUOYU_H2_TRACE=1`: connection closes and GOAWAYs go to stderr (read once, at first use).
let tracing = getenv("TUOYU_H2_TRACE") != nil

func trace(_ s: String) {
  let line = "H2TRACE \(s)\n"
  _ = line.withCString { write(2, $0, strlen($0)) }
}
