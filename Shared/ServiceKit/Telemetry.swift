import API
import Foundation
import Logging
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

  /// The Prometheus text exposition of everything recorded so far, and the process's own
  /// figures (read at the scrape).
  public static func exposition() -> [UInt8] { registry.emitToBuffer() + Array(ProcessMetrics.exposition().utf8) }

  /// `tuoyu_grpc_refused_calls_total{reason}`: calls refused before routing (an unknown method —
  /// a probe, or a client built for another version —, an unsupported encoding, not gRPC).
  public static func refusedCall(_ reason: RPCServer.RefusedCall) {
    bootstrap()
    refusedCalls.withLockedValue { made in
      if made[reason] == nil {
        made[reason] = registry.makeCounter(
          descriptor: .init(
            metricName: "tuoyu_grpc_refused_calls_total",
            helpText:
              "Calls refused before routing (unknown method, unsupported encoding, not gRPC), and connections over the limit."
          ),
          labels: [("reason", reason.rawValue)])
      }
      return made[reason]!
    }.increment()
  }
  private static let refusedCalls = NIOLockedValueBox<[RPCServer.RefusedCall: Prometheus.Counter]>([:])

  /// `tuoyu_refusals_total{grpc_service,grpc_method,rule}`: calls refused by a named rule (the
  /// rules of a google.rpc.ErrorInfo; a bounded set, named in code, never from input).
  static func refusal(_ d: MethodDescriptor, rule: String) {
    let key = "\(d.path) \(rule)"
    refusals.withLockedValue { made in
      if made[key] == nil {
        made[key] = registry.makeCounter(
          descriptor: .init(
            metricName: "tuoyu_refusals_total", helpText: "Calls refused, by the rule that refused them."),
          labels: MetricsInterceptor.labels(d) + [("rule", rule)])
      }
      return made[key]!
    }.increment()
  }
  private static let refusals = NIOLockedValueBox<[String: Prometheus.Counter]>([:])

  /// The change feed a consumer follows: the last cursor applied, how long ago its event committed
  /// at the source, and how many events this process applied — summed over a service's replicas,
  /// each event counts once (`tuoyu_change_feed_cursor`, `tuoyu_change_feed_lag_seconds`,
  /// `tuoyu_change_feed_applied_total`).
  public static func feedApplied(source: String, cursor: Int64, occurredAt: String) {
    bootstrap()
    let (cursorGauge, lagGauge, applied) = feedMetrics.withLockedValue { made in
      if made[source] == nil {
        made[source] = (
          registry.makeGauge(
            descriptor: .init(
              metricName: "tuoyu_change_feed_cursor", helpText: "The last change-feed cursor applied, by source."),
            labels: [("source", source)]),
          registry.makeGauge(
            descriptor: .init(
              metricName: "tuoyu_change_feed_lag_seconds",
              helpText: "Seconds between an event's commit at its source and its application here, for the last event."),
            labels: [("source", source)]),
          registry.makeCounter(
            descriptor: .init(
              metricName: "tuoyu_change_feed_applied_total", helpText: "Change-feed events applied here, by source."),
            labels: [("source", source)])
        )
      }
      return made[source]!
    }
    cursorGauge.set(to: Double(cursor))
    applied.increment()
    if let at = try? feedTimeFormat.parse(occurredAt) {
      lagGauge.set(to: max(0, Date().timeIntervalSince(at)))
    }
  }
  /// One parse strategy for every event (an ISO8601DateFormatter per event cost more than the parse).
  private static let feedTimeFormat = Date.ISO8601FormatStyle()
  private static let feedMetrics = NIOLockedValueBox<
    [String: (Prometheus.Gauge, Prometheus.Gauge, Prometheus.Counter)]
  >([:])
}

/// The process figures Prometheus client libraries export (`process_cpu_seconds_total`,
/// `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`,
/// `process_max_fds`, `process_start_time_seconds`), read from /proc at each scrape.
enum ProcessMetrics {
  static func exposition() -> String {
    var out = ""
    func add(_ name: String, _ type: String, _ help: String, _ value: Double?) {
      guard let value else { return }
      out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
    }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    let page = Double(sysconf(Int32(_SC_PAGESIZE)))
    // /proc/self/stat: the fields after the command's closing parenthesis, from field 3 (state).
    if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    {
      let f = stat[stat.index(after: close)...].split(separator: " ").map(String.init)
      // f[0] is field 3; utime 14, stime 15, starttime 22, vsize 23, rss 24.
      if f.count > 21, let utime = Double(f[11]), let stime = Double(f[12]), let start = Double(f[19]),
        let vsize = Double(f[20]), let rss = Double(f[21]), ticks > 0
      {
        add(
          "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
          (utime + stime) / ticks)
        add("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", vsize)
        add("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss * page)
        if let boot = bootTime() {
          add(
            "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
            boot + start / ticks)
        }
      }
    }
    if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
      add("process_open_fds", "gauge", "Number of open file descriptors.", Double(fds.count))
    }
    var limit = rlimit()
    if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
      add("process_max_fds", "gauge", "Maximum number of open file descriptors.", Double(limit.rlim_cur))
    }
    return out
  }

  /// The system's boot time (`btime` of /proc/stat), in seconds since the epoch.
  static func bootTime() -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
      return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
    }
    return nil
  }
}

/// The gRPC server metrics under the names Prometheus users know from go-grpc-prometheus, with
/// HELP lines: `grpc_server_started_total`, `grpc_server_handled_total` (by code),
/// `grpc_server_handling_seconds` (a histogram) and `grpc_server_in_flight` — labelled
/// `grpc_type`, `grpc_service`, `grpc_method` — and an access log line per call (level debug:
/// `--log-level debug`). Placed first, so refusals by later interceptors (authentication) are
/// counted and logged too.
public struct MetricsInterceptor: ServerInterceptor {
  private struct Handles {
    let started: Prometheus.Counter
    let inFlight: Prometheus.Gauge
    let seconds: Prometheus.DurationHistogram
    var handled: [Status.Code: Prometheus.Counter] = [:]
  }
  /// The metric handles per method (and code), made once: a call only looks them up.
  private let handles = NIOLockedValueBox([String: Handles]())
  private let access = Logger(label: "tuoyu.access")

  static let buckets: [Duration] = [
    .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
    .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
    .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
  ]

  public init() { Telemetry.bootstrap() }

  static func labels(_ d: MethodDescriptor) -> [(String, String)] {
    let type =
      switch d.kind {
      case .unary: "unary"
      case .clientStreaming: "client_stream"
      case .serverStreaming: "server_stream"
      case .bidirectionalStreaming: "bidi_stream"
      }
    return [("grpc_type", type), ("grpc_service", d.service), ("grpc_method", d.method)]
  }

  private func handles(_ d: MethodDescriptor) -> Handles {
    handles.withLockedValue { h in
      if let hit = h[d.path] { return hit }
      let r = Telemetry.registry
      let labels = Self.labels(d)
      let made = Handles(
        started: r.makeCounter(
          descriptor: .init(metricName: "grpc_server_started_total", helpText: "RPCs started on the server."),
          labels: labels),
        inFlight: r.makeGauge(
          descriptor: .init(metricName: "grpc_server_in_flight", helpText: "RPCs being handled now."),
          labels: labels),
        seconds: r.makeDurationHistogram(
          descriptor: .init(
            metricName: "grpc_server_handling_seconds",
            helpText: "How long the server took to handle RPCs, whatever their status."),
          labels: labels, buckets: Self.buckets))
      h[d.path] = made
      return made
    }
  }

  private func handled(_ d: MethodDescriptor, _ code: Status.Code) -> Prometheus.Counter {
    handles.withLockedValue { h in
      if let hit = h[d.path]?.handled[code] { return hit }
      let made = Telemetry.registry.makeCounter(
        descriptor: .init(
          metricName: "grpc_server_handled_total", helpText: "RPCs completed on the server, by status code."),
        labels: Self.labels(d) + [("grpc_code", Self.name(code))])
      h[d.path]?.handled[code] = made
      return made
    }
  }

  /// The rules a refusal names (its google.rpc.ErrorInfo), none for other errors.
  static func rules(of status: RPCError?) -> [String] {
    guard let details = status?.details, let decoded = try? Google_Rpc_Status(serializedBytes: details) else {
      return []
    }
    for any in decoded.details {
      if let info = try? Google_Rpc_ErrorInfo(unpackingAny: any) {
        return (info.metadata["rules"] ?? info.reason).split(separator: ",").map(String.init)
      }
    }
    return []
  }

  /// The status code as gRPC's names spell it (OK, INVALID_ARGUMENT, …).
  static func name(_ code: Status.Code) -> String { "\(code)" }

  public func intercept(context: ServerContext, next: (ServerContext) async throws -> Void) async throws {
    let start = ContinuousClock.now
    let d = context.descriptor
    let h = handles(d)
    h.started.increment()
    h.inFlight.increment()
    var code = Status.Code.ok
    defer {
      let elapsed = ContinuousClock.now - start
      h.inFlight.decrement()
      h.seconds.record(elapsed)
      handled(d, code).increment()
      access.debug(
        "rpc",
        metadata: [
          "method": "\(d.path)", "code": "\(code)",
          "ms":
            "\(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds / 1_000_000_000_000) / 1000)",
          "caller": "\(Principal.of(context)?.subject ?? "-")", "peer": "\(context.peer)",
          "request_id": "\(context.requestMetadata.first("x-request-id") ?? "-")",
        ])
    }
    do {
      try await next(context)
    } catch {
      if error is CancellationError || Task.isCancelled {
        code = context.deadline.map { $0 <= .now() } == true ? .deadlineExceeded : .cancelled
      } else {
        let status = RPCError.status(of: error)
        code = status?.code ?? .internal
        for rule in Self.rules(of: status) { Telemetry.refusal(d, rule: rule) }
      }
      throw error
    }
  }
}

/// `tuoyu_build_info{service,version} 1`: which build a service runs.
public func recordBuildInfo(service: String) {
  Telemetry.bootstrap()
  Telemetry.registry.makeGauge(
    descriptor: .init(metricName: "tuoyu_build_info", helpText: "The build this service runs (always 1)."),
    labels: [("service", service), ("version", TuoyuVersion.string)]
  ).set(to: 1.0)
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
