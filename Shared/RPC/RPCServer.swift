import H2
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A gRPC server over HTTP/2 (h2c with prior knowledge, or TLS with ALPN `h2`).
public final class RPCServer: Sendable {
  public struct Configuration: Sendable {
    public var host: String
    public var port: Int
    /// TLS; nil serves h2c.
    public var tls: TLSConfiguration?
    /// A larger request message is refused with RESOURCE_EXHAUSTED.
    public var maxReceiveMessageSize: Int = 4 << 20
    public var http2 = H2Settings()
    public var interceptors: [any ServerInterceptor] = []
    /// Told of every call refused before any handler or interceptor could see it (for metrics):
    /// an unknown method, an unsupported message encoding, or a request that is not gRPC.
    public var onRefusedCall: (@Sendable (RefusedCall) -> Void)?
    /// Client connections held at once; one more is closed as soon as it is accepted (and told
    /// to `onRefusedCall` as `tooManyConnections`). Nil: no limit.
    public var maxConnections: Int? = 4096
    /// How long each event loop's CPU is kept from halting after the loop's last read (see
    /// `IdleSpin`); nil or zero: never. Capped at `IdleSpin.maxWindow`.
    public var idleSpin: Duration? = IdleSpin.defaultWindow
    /// Whether the connections an event loop finds ready are read first and then served
    /// longest-waiting first, about the order their requests arrived (`H2ReadRound`); otherwise
    /// in the order epoll reports them, which keeps a late connection late (p99 at 16×1 about
    /// 1.6× higher; README, Benchmarks). A connection alone on its event loop is served at once
    /// either way.
    public var servesInArrivalOrder = true

    public init(host: String = "127.0.0.1", port: Int = 0, tls: TLSConfiguration? = nil) {
      self.host = host
      self.port = port
      self.tls = tls
    }
  }

  /// Why a call was refused before routing.
  public enum RefusedCall: String, Sendable, CaseIterable {
    case unknownMethod = "unknown-method"
    case unsupportedEncoding = "unsupported-encoding"
    case notGRPC = "not-grpc"
    /// Not a call: a connection over `maxConnections`, closed at once.
    case tooManyConnections = "too-many-connections"
  }

  /// What every connection of the server shares.
  final class Shared: Sendable {
    let configuration: Configuration
    let router: RPCRouter
    let logger: Logger

    init(configuration: Configuration, router: RPCRouter, logger: Logger) {
      self.configuration = configuration
      self.router = router
      self.logger = logger
    }
  }

  private struct State {
    var serverChannel: (any Channel)?
    var connections: [ObjectIdentifier: (any Channel, NIOLoopBound<H2Connection>)] = [:]
    var shuttingDown = false
  }

  let shared: Shared
  let group: any EventLoopGroup
  private let state = NIOLockedValueBox(State())
  private let sslContext: NIOSSLContext?

  public init(
    configuration: Configuration, services: [any RPCService],
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    logger: Logger = Logger(label: "tuoyu.rpc")
  ) throws {
    var router = RPCRouter()
    for service in services { service.register(on: &router) }
    var configuration = configuration
    if var tls = configuration.tls {
      tls.applicationProtocols = ["h2"]
      configuration.tls = tls
      self.sslContext = try NIOSSLContext(configuration: tls)
    } else {
      self.sslContext = nil
    }
    self.shared = Shared(configuration: configuration, router: router, logger: logger)
    self.group = group
  }

  /// The methods the server routes (each service's descriptors).
  public var methods: [MethodDescriptor] { shared.router.methods }

  /// Binds and starts accepting; returns the bound port.
  @discardableResult
  public func start() async throws -> Int {
    let shared = self.shared
    let sslContext = self.sslContext
    let channel = try await ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 1024)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
      .childChannelInitializer { [weak self] channel in
        channel.eventLoop.makeCompletedFuture {
          if let sslContext {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
          }
          let connection = ServerConnection(server: shared, channel: channel)
          let h2 = H2Connection(
            role: .server, settings: shared.configuration.http2, delegate: connection)
          if let window = shared.configuration.idleSpin, window > .zero,
            let spinner = IdleSpin.spinner(for: channel.eventLoop, window: window)
          {
            h2.onReadComplete = { spinner.activity() }
          }
          // The delegate is weak in H2; the handler keeps it alive for the channel's lifetime.
          try channel.pipeline.syncOperations.addHandler(h2)
          // Once the handler is in the pipeline, whose teardown takes it out of the round again
          // (nothing is read before this initializer returns).
          if shared.configuration.servesInArrivalOrder {
            h2.readRound = self?.readRound(for: channel.eventLoop)
          }
          try channel.pipeline.syncOperations.addHandler(KeepAlive(connection))
          self?.track(channel, h2)
        }
      }
      .bind(host: shared.configuration.host, port: shared.configuration.port).get()
    state.withLockedValue { $0.serverChannel = channel }
    return channel.localAddress?.port ?? shared.configuration.port
  }

  /// Each event loop's read round, made when the loop accepts its first connection (called on
  /// that loop). Keyed by the loop's identity: the server holds its group, so no loop it has
  /// seen can be freed and another take its address.
  private let rounds = NIOLockedValueBox([ObjectIdentifier: NIOLoopBound<H2ReadRound>]())

  private func readRound(for loop: any EventLoop) -> H2ReadRound {
    rounds.withLockedValue { all in
      if let round = all[ObjectIdentifier(loop)] { return round.value }
      let round = H2ReadRound(eventLoop: loop)
      all[ObjectIdentifier(loop)] = NIOLoopBound(round, eventLoop: loop)
      return round
    }
  }

  private func track(_ channel: any Channel, _ h2: H2Connection) {
    let id = ObjectIdentifier(channel)
    let limit = shared.configuration.maxConnections
    let refused = state.withLockedValue { state -> Bool in
      if state.shuttingDown { return true }
      if let limit, state.connections.count >= limit { return true }
      state.connections[id] = (channel, NIOLoopBound(h2, eventLoop: channel.eventLoop))
      return false
    }
    if refused {
      if let limit, !(state.withLockedValue { $0.shuttingDown }) {
        shared.configuration.onRefusedCall?(.tooManyConnections)
        shared.logger.debug("connection refused: \(limit) connections open")
      }
      channel.close(promise: nil)
      return
    }
    channel.closeFuture.whenComplete { [weak self] _ in
      _ = self?.state.withLockedValue { $0.connections.removeValue(forKey: id) }
    }
  }

  /// Stops accepting, sends GOAWAY on every connection, lets in-flight calls finish for up to
  /// `gracePeriod`, then closes what is left.
  public func shutdown(gracePeriod: TimeAmount = .seconds(10)) async {
    let (server, connections) = state.withLockedValue { state in
      state.shuttingDown = true
      return (state.serverChannel, Array(state.connections.values))
    }
    try? await server?.close()
    for (channel, h2) in connections {
      channel.eventLoop.execute { h2.value.goAway() }
    }
    let deadline = NIODeadline.now() + gracePeriod
    for (channel, _) in connections {
      let timeout = channel.eventLoop.scheduleTask(deadline: deadline) { channel.close(promise: nil) }
      try? await channel.closeFuture.get()
      timeout.cancel()
    }
  }
}

/// Holds the connection delegate for the channel's lifetime (H2Connection keeps it weakly).
private final class KeepAlive: ChannelInboundHandler {
  typealias InboundIn = Never
  let connection: ServerConnection
  init(_ connection: ServerConnection) { self.connection = connection }
}
