import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import RPC

/// The process's metrics: swift-metrics, backed by one Prometheus registry, exposed as text on
/// `GET /metrics` by `MetricsHTTPServer`.
public enum Telemetry {
  /// The registry every metric of this process lands in.
  public static let registry = PrometheusCollectorRegistry()

  private static let bootstrapped: Void = {
    var factory = PrometheusMetricsFactory(registry: registry)
    // Timers as histograms in seconds, with buckets that suit RPCs and queries.
    factory.defaultDurationHistogramBuckets = [
      .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
      .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
      .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]
    MetricsSystem.bootstrap(factory)
  }()

  /// Installs the Prometheus backend for swift-metrics; idempotent.
  public static func bootstrap() { _ = bootstrapped }

  /// The Prometheus text exposition of everything recorded so far.
  public static func exposition() -> [UInt8] { registry.emitToBuffer() }
}

/// Counts every RPC by method and status code and times it:
/// `tuoyu_rpc_server_requests_total{method,code}` and `tuoyu_rpc_server_duration_seconds{method}`.
/// Placed first, so refusals by later interceptors (authentication) are counted too.
public struct MetricsInterceptor: ServerInterceptor {
  /// The metric handles per method (and code), made once: a call only looks them up.
  private let counters = NIOLockedValueBox([String: Metrics.Counter]())
  private let timers = NIOLockedValueBox([String: Metrics.Timer]())

  public init() { Telemetry.bootstrap() }

  func counter(_ method: String, _ code: Status.Code) -> Metrics.Counter {
    let key = "\(method) \(code.rawValue)"
    return counters.withLockedValue { c in
      if let hit = c[key] { return hit }
      let made = Metrics.Counter(
        label: "tuoyu_rpc_server_requests_total", dimensions: [("method", method), ("code", "\(code)")])
      c[key] = made
      return made
    }
  }

  func timer(_ method: String) -> Metrics.Timer {
    timers.withLockedValue { t in
      if let hit = t[method] { return hit }
      let made = Metrics.Timer(label: "tuoyu_rpc_server_duration_seconds", dimensions: [("method", method)])
      t[method] = made
      return made
    }
  }

  public func intercept(context: ServerContext, next: (ServerContext) async throws -> Void) async throws {
    let start = ContinuousClock.now
    let method = context.descriptor.path
    var code = Status.Code.ok
    defer {
      counter(method, code).increment()
      timer(method).record(duration: ContinuousClock.now - start)
    }
    do {
      try await next(context)
    } catch {
      if error is CancellationError || Task.isCancelled {
        code = context.deadline.map { $0 <= .now() } == true ? .deadlineExceeded : .cancelled
      } else {
        code = RPCError.status(of: error)?.code ?? .internal
      }
      throw error
    }
  }
}

/// A minimal HTTP/1.1 server for Prometheus scrapes: `GET /metrics` answers the exposition;
/// anything else is 404 (or 405 for another method). Kept apart from the gRPC port so that a
/// scraper needs no token and the RPC port carries no HTTP/1.
public final class MetricsHTTPServer: Sendable {
  private let channel: any Channel

  /// Binds `host:port` (0 picks a free port) on `group`.
  public init(
    host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  )
    async throws
  {
    Telemetry.bootstrap()
    channel = try await ServerBootstrap(group: group)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.configureHTTPServerPipeline()
          try channel.pipeline.syncOperations.addHandler(MetricsHandler())
        }
      }
      .bind(host: host, port: port).get()
  }

  /// The port actually bound.
  public var port: Int { channel.localAddress?.port ?? 0 }

  public func close() async {
    try? await channel.close()
  }
}

private final class MetricsHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart
  private var head: HTTPRequestHead?

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let h): head = h
    case .body: break
    case .end:
      guard let head else { return }
      self.head = nil
      let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
      let (status, type, body): (HTTPResponseStatus, String, [UInt8])
      if path != "/metrics" {
        (status, type, body) = (.notFound, "text/plain", Array("not found; try /metrics\n".utf8))
      } else if head.method != .GET && head.method != .HEAD {
        (status, type, body) = (.methodNotAllowed, "text/plain", Array("GET only\n".utf8))
      } else {
        (status, type, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", Telemetry.exposition())
      }
      var headers = HTTPHeaders([("content-type", type), ("content-length", "\(body.count)")])
      if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
      context.write(
        wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
        promise: nil)
      if head.method != .HEAD {
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
      }
      let keepAlive = head.isKeepAlive
      let channel = context.channel
      context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
        if !keepAlive { channel.close(promise: nil) }
      }
    }
  }
}
