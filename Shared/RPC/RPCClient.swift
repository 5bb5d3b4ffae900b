import H2
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SwiftProtobuf

/// A gRPC client of one server address. It keeps one HTTP/2 connection and reuses it for every
/// call, reconnects with exponential back-off after it is lost, and can keep it alive with PINGs.
public final class RPCClient: Sendable {
  public struct Configuration: Sendable {
    public var host: String
    public var port: Int
    /// TLS; nil speaks h2c with prior knowledge.
    public var tls: TLSConfiguration?
    /// The TLS server name and `:authority`; defaults to `host`.
    public var serverHostname: String?
    public var maxReceiveMessageSize = 4 << 20
    public var connectTimeout: TimeAmount = .seconds(20)
    /// Back-off between failed connection attempts (grpc `connection-backoff.md`).
    public var backoffInitial: TimeAmount = .seconds(1)
    public var backoffMax: TimeAmount = .seconds(120)
    public var backoffMultiplier = 1.6
    public var backoffJitter = 0.2
    /// Sends a PING this often on an idle or busy connection; nil disables keepalive.
    public var keepaliveInterval: TimeAmount?
    /// Closes the connection when a keepalive PING is not answered within this.
    public var keepaliveTimeout: TimeAmount = .seconds(20)
    /// Sent with every call, before the call's own metadata.
    public var defaultMetadata = Metadata()
    public var http2 = H2Settings()

    public init(host: String, port: Int, tls: TLSConfiguration? = nil) {
      self.host = host
      self.port = port
      self.tls = tls
    }
  }

  private struct State {
    var connection: ClientConnection?
    var connecting: EventLoopFuture<ClientConnection>?
    var backoff: TimeAmount
    var retryAt: NIODeadline?
    var lastError: String?
    var closed = false
  }

  public let configuration: Configuration
  let group: any EventLoopGroup
  private let state: NIOLockedValueBox<State>
  private let sslContext: NIOSSLContext?
  private let authority: String

  public init(
    configuration: Configuration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) throws {
    // Metadata sent with every call is checked once, here (see `checkMetadata`).
    try Self.checkMetadata(configuration.defaultMetadata)
    self.configuration = configuration
    self.group = group
    self.state = NIOLockedValueBox(State(backoff: configuration.backoffInitial))
    if var tls = configuration.tls {
      tls.applicationProtocols = ["h2"]
      self.sslContext = try NIOSSLContext(configuration: tls)
    } else {
      self.sslContext = nil
    }
    let host = configuration.serverHostname ?? configuration.host
    self.authority = host.contains(":") ? "[\(host)]:\(configuration.port)" : "\(host):\(configuration.port)"
  }

  /// Metadata that HTTP/2 or gRPC would refuse fails locally, with its name, not as a stream reset
  /// from the server (a token with a trailing newline is the usual case).
  static func checkMetadata(_ metadata: Metadata) throws {
    for e in metadata.elements {
      if let problem = Metadata.problem(key: e.key, value: e.value) {
        throw RPCError(
          code: .invalidArgument, message: "metadata \(Metadata.shown(e.key)): \(problem); nothing was sent")
      }
    }
  }

  public convenience init(host: String, port: Int, tls: TLSConfiguration? = nil) throws {
    try self.init(configuration: Configuration(host: host, port: port, tls: tls))
  }

  // MARK: Calls

  /// A unary call.
  public func unary<Req: SwiftProtobuf.Message, Resp: SwiftProtobuf.Message>(
    _ descriptor: MethodDescriptor, request: Req, metadata: Metadata = Metadata(),
    options: CallOptions = CallOptions()
  ) async throws -> UnaryResponse<Resp> {
    let call = try await makeCall(
      descriptor, request: Req.self, response: Resp.self, metadata: metadata, options: options)
    return try await withTaskCancellationHandler {
      try await call.send(request)
      try await call.end()
      guard let message = try await call.receive() else {
        if let error = await call.error() { throw error }
        throw RPCError(code: .internal, message: "unary call returned no message")
      }
      if let error = await call.error() { throw error }
      return UnaryResponse(
        message: message, initialMetadata: try await call.initialMetadata(),
        trailingMetadata: await call.trailingMetadata())
    } onCancel: {
      call.cancel()
    }
  }

  /// Opens a call of any kind; send, end and receive on the returned call.
  public func makeCall<Req: SwiftProtobuf.Message, Resp: SwiftProtobuf.Message>(
    _ descriptor: MethodDescriptor, request: Req.Type, response: Resp.Type,
    metadata: Metadata = Metadata(), options: CallOptions = CallOptions()
  ) async throws -> ClientCall<Req, Resp> {
    try Self.checkMetadata(metadata)
    let deadline = options.timeout.map { NIODeadline.now() + TimeAmount($0) }
    // A stream that could not even be opened never reached the server, so it is retried once
    // on a new connection (gRPC's transparent retry).
    do {
      return try await makeCall(descriptor, metadata: metadata, deadline: deadline, options: options)
    } catch is StreamNotOpened {
      do {
        return try await makeCall(descriptor, metadata: metadata, deadline: deadline, options: options)
      } catch let failure as StreamNotOpened {
        throw RPCError(
          code: .unavailable,
          message: "connection to \(authority) closed before the call started (\(failure.reason))")
      }
    }
  }

  private func makeCall<Req: SwiftProtobuf.Message, Resp: SwiftProtobuf.Message>(
    _ descriptor: MethodDescriptor, metadata: Metadata, deadline: NIODeadline?, options: CallOptions
  ) async throws -> ClientCall<Req, Resp> {
    let connection = try await connection(waitForReady: options.waitForReady, deadline: deadline)
    var headers = [
      H2Header(":method", "POST"),
      H2Header(":scheme", configuration.tls == nil ? "http" : "https"),
      H2Header(":path", descriptor.path),
      H2Header(":authority", authority),
      H2Header("content-type", "application/grpc"),
      H2Header("te", "trailers"),
      H2Header("user-agent", "tuoyu-rpc/1.0"),
      H2Header("grpc-accept-encoding", MessageEncoding.acceptHeader),
    ]
    if let compression = options.compression { headers.append(H2Header("grpc-encoding", compression.rawValue)) }
    if let deadline {
      let remaining = deadline - NIODeadline.now()
      headers.append(H2Header("grpc-timeout", GRPCTimeout.encode(nanoseconds: max(remaining.nanoseconds, 1))))
    }
    for md in [configuration.defaultMetadata, metadata] {
      for e in md.elements where !Metadata.isReserved(e.key) {
        switch e.value {
        case .string(let s): headers.append(H2Header(e.key, s))
        case .binary(let b): headers.append(H2Header(e.key, Base64.encode(b)))
        }
      }
    }
    let call = ClientCall<Req, Resp>(
      descriptor: descriptor, loop: connection.channel.eventLoop,
      maxReceiveMessageSize: configuration.maxReceiveMessageSize)
    call.compression = options.compression
    let h2 = connection.h2
    let requestHeaders = headers
    do {
      try await connection.channel.eventLoop.submit {
        try call.open(on: h2.value, headers: requestHeaders, deadline: deadline)
      }.get()
    } catch let error as H2Error {
      forget(connection)
      throw StreamNotOpened(reason: "\(error)")
    }
    return call
  }

  /// Drops `connection` so the next call opens a new one.
  private func forget(_ connection: ClientConnection) {
    state.withLockedValue { state in
      if let c = state.connection, c.channel === connection.channel { state.connection = nil }
    }
  }

  /// Closes the connection; later calls fail with UNAVAILABLE.
  public func close() async {
    let connection = state.withLockedValue { state -> ClientConnection? in
      state.closed = true
      defer { state.connection = nil }
      return state.connection
    }
    if let connection {
      connection.channel.eventLoop.execute { connection.h2.value.goAway() }
      try? await connection.channel.close()
    }
  }

  // MARK: Connection management

  private func connection(waitForReady: Bool, deadline: NIODeadline?) async throws -> ClientConnection {
    while true {
      enum Next {
        case ready(ClientConnection), wait(EventLoopFuture<ClientConnection>), backoff(NIODeadline, String), connect
      }
      let next: Next = state.withLockedValue { state in
        if state.closed { return .backoff(.distantFuture, "client closed") }
        if let c = state.connection, c.isUsable { return .ready(c) }
        state.connection = nil
        if let f = state.connecting { return .wait(f) }
        if let at = state.retryAt, at > .now() { return .backoff(at, state.lastError ?? "") }
        return .connect
      }
      switch next {
      case .ready(let c):
        return c
      case .wait(let f):
        do { return try await f.get() } catch  where waitForReady { continue }
      case .backoff(let at, let why):
        guard waitForReady, at != .distantFuture else {
          throw RPCError(code: .unavailable, message: "cannot connect to \(authority): \(why)")
        }
        if let deadline, deadline < at {
          throw RPCError(code: .deadlineExceeded, message: "deadline passed while waiting to connect")
        }
        try await Task.sleep(nanoseconds: UInt64(max(0, at.uptimeNanoseconds - NIODeadline.now().uptimeNanoseconds)))
      case .connect:
        let future = startConnect()
        do { return try await future.get() } catch  where waitForReady { continue }
      }
    }
  }

  private func startConnect() -> EventLoopFuture<ClientConnection> {
    let loop = group.next()
    let promise = loop.makePromise(of: ClientConnection.self)
    let proceed = state.withLockedValue { state -> Bool in
      if let f = state.connecting {
        promise.completeWith(f)
        return false
      }
      state.connecting = promise.futureResult
      return true
    }
    guard proceed else { return promise.futureResult }
    let sslContext = self.sslContext
    let hostname = configuration.serverHostname ?? configuration.host
    let settings = configuration.http2
    let keepalive = configuration.keepaliveInterval
    let keepaliveTimeout = configuration.keepaliveTimeout
    ClientBootstrap(group: loop)
      .connectTimeout(configuration.connectTimeout)
      .channelOption(.tcpOption(.tcp_nodelay), value: 1)
      // The HTTP/2 handler is in the pipeline before the connection is: the server's SETTINGS
      // can arrive in the first read, and a frame read before the handler was added would be
      // dropped (the client then sees the server's first HEADERS without its SETTINGS and
      // terminates the session with PROTOCOL_ERROR).
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          if let sslContext {
            let tls = try NIOSSLClientHandler(
              context: sslContext, serverHostname: hostname.first?.isNumber == true ? nil : hostname)
            try channel.pipeline.syncOperations.addHandler(tls)
          }
          let delegate = ClientConnectionDelegate()
          let h2 = H2Connection(role: .client, settings: settings, delegate: delegate)
          delegate.h2 = h2
          try channel.pipeline.syncOperations.addHandler(h2)
          try channel.pipeline.syncOperations.addHandler(
            ClientKeepalive(delegate: delegate, interval: keepalive, timeout: keepaliveTimeout))
        }
      }
      .connect(host: configuration.host, port: configuration.port)
      .flatMapThrowing { channel -> ClientConnection in
        let h2 = try channel.pipeline.syncOperations.handler(type: H2Connection.self)
        guard let delegate = h2.delegate as? ClientConnectionDelegate else {
          throw RPCError(code: .internal, message: "client connection without its delegate")
        }
        return ClientConnection(
          channel: channel, h2: NIOLoopBound(h2, eventLoop: channel.eventLoop),
          goingAway: delegate.goingAway)
      }
      .whenComplete { [self] result in
        switch result {
        case .success(let connection):
          state.withLockedValue { state in
            state.connecting = nil
            state.connection = connection
            state.backoff = configuration.backoffInitial
            state.retryAt = nil
          }
          promise.succeed(connection)
        case .failure(let error):
          let message = Self.connectFailure(error)
          state.withLockedValue { state in
            state.connecting = nil
            let jitter = 1 + Double.random(in: -configuration.backoffJitter...configuration.backoffJitter)
            state.retryAt = .now() + .nanoseconds(Int64(Double(state.backoff.nanoseconds) * jitter))
            state.backoff = .nanoseconds(
              min(
                Int64(Double(state.backoff.nanoseconds) * configuration.backoffMultiplier),
                configuration.backoffMax.nanoseconds))
            state.lastError = message
          }
          promise.fail(RPCError(code: .unavailable, message: "cannot connect to \(authority): \(message)"))
        }
      }
    return promise.futureResult
  }
}

/// One live client connection.
struct ClientConnection: Sendable {
  let channel: any Channel
  let h2: NIOLoopBound<H2Connection>
  let goingAway: NIOLockedValueBox<Bool>

  /// Open, and not told to go away.
  var isUsable: Bool { channel.isActive && !goingAway.withLockedValue { $0 } }
}

/// Tracks GOAWAY and PING acknowledgements of a client connection.
final class ClientConnectionDelegate: H2ConnectionDelegate {
  weak var h2: H2Connection?
  let goingAway = NIOLockedValueBox(false)
  var onPingAck: ((UInt64) -> Void)?

  func h2Connection(_ connection: H2Connection, receivedGoAway lastStreamID: Int32, error: H2ErrorCode) {
    goingAway.withLockedValue { $0 = true }
    // Streams the server has not processed are refused by nghttp2 and fail with UNAVAILABLE;
    // once the rest finish nghttp2 stops wanting to read and the connection closes.
  }

  func h2Connection(_ connection: H2Connection, receivedPingAck opaque: UInt64) {
    onPingAck?(opaque)
  }
}

/// Sends keepalive PINGs and closes a connection whose peer stops answering.
final class ClientKeepalive: ChannelInboundHandler {
  typealias InboundIn = Never
  let delegate: ClientConnectionDelegate
  let interval: TimeAmount?
  let timeout: TimeAmount
  private var timer: RepeatedTask?
  private var pending: Scheduled<Void>?
  private var counter: UInt64 = 0

  init(delegate: ClientConnectionDelegate, interval: TimeAmount?, timeout: TimeAmount) {
    self.delegate = delegate
    self.interval = interval
    self.timeout = timeout
  }

  func handlerAdded(context: ChannelHandlerContext) {
    guard let interval else { return }
    let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
    let channel = context.channel
    delegate.onPingAck = { _ in
      loopBound.value.pending?.cancel(); loopBound.value.pending = nil
    }
    timer = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
      let me = loopBound.value
      guard me.pending == nil, let h2 = me.delegate.h2 else { return }
      me.counter &+= 1
      h2.ping(me.counter)
      me.pending = channel.eventLoop.scheduleTask(in: me.timeout) { channel.close(promise: nil) }
    }
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    timer?.cancel()
    pending?.cancel()
  }
}

/// A call whose stream could not be opened: it never reached the server, so it may be retried.
private struct StreamNotOpened: Error {
  let reason: String
}

extension RPCClient {
  /// Why a connection could not be made, as a short sentence (NIO's errors describe themselves as
  /// nested structs).
  static func connectFailure(_ error: any Error) -> String {
    let text = String(describing: error)
    let known: [(String, String)] = [
      ("Connection refused", "connection refused (is the service running at that address?)"),
      ("connectTimeout", "timed out"),
      ("timed out", "timed out"),
      ("No route to host", "no route to host"),
      ("Network is unreachable", "network unreachable"),
      ("Name or service not known", "unknown host"),
      ("nodename nor servname", "unknown host"),
      ("handshake", "TLS handshake failed (check --tls and --ca)"),
      ("certificate", "the server's TLS certificate was not accepted (check --ca)"),
    ]
    for (needle, sentence) in known where text.localizedCaseInsensitiveContains(needle) { return sentence }
    return String(text.prefix(160))
  }
}
