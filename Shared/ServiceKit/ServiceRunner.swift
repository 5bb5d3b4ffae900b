import API
import Foundation
import Logging
import Metrics
import NIOCore
import NIOSSL
import Postgres
import RPC
import RPCHealth
import RPCReflection
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Starts a service the same way for every executable: configuration, logs, the database pool,
/// migrations of the service's own schema, the gRPC server with health, Prometheus metrics, and a
/// clean stop on SIGTERM/SIGINT through swift-service-lifecycle. Health reports SERVING only while
/// migrations are done and the database answers.
/// What a service's factory is given to build its RPC services from: its database pool, logger and
/// configuration, clients of its peers (with its own service token), and a place for background
/// work (a change-feed follower, a scheduled job) that the process starts after the server and
/// stops before the pool, in the same `ServiceGroup`.
public final class ServiceDependencies: Sendable {
  public let pool: PostgresPool
  public let logger: Logger
  public let configuration: ServiceConfiguration
  private let added = NIOLockedValueBox<[any Service]>([])

  init(pool: PostgresPool, logger: Logger, configuration: ServiceConfiguration) {
    self.pool = pool
    self.logger = logger
    self.configuration = configuration
  }

  /// A client of the peer service `name` (`--peer-NAME HOST:PORT`) sending this service's token.
  public func peer(_ name: String) throws -> RPCClient { try configuration.peerClient(name) }

  /// Runs `service` with the process: started after the gRPC server, stopped (its `run` is
  /// cancelled or told to shut down gracefully) before the pool closes.
  public func addBackground(_ service: any Service) { added.withLockedValue { $0.append(service) } }

  var background: [any Service] { added.withLockedValue { $0 } }
}

public struct ServiceRunner: Sendable {
  /// The health service name a liveness probe asks: SERVING from start until shutdown begins,
  /// whether or not the database answers (readiness asks for "", which follows the database).
  public static let liveness = "liveness"
  public let name: String
  public let schema: String
  public let migrations: Migrator
  public let makeServices: @Sendable (ServiceDependencies) throws -> [any RPCService]
  /// Who may call what; the change feed is open to service tokens and auditors.
  public let policy: AccessPolicy

  /// A service whose RPC services need only the pool.
  public init(
    name: String, schema: String, migrations: Migrator, policy: AccessPolicy = AccessPolicy(),
    services: @escaping @Sendable (PostgresPool) -> [any RPCService] = { _ in [] }
  ) {
    self.init(name: name, schema: schema, migrations: migrations, policy: policy, build: { services($0.pool) })
  }

  /// A service built from its dependencies (pool, logger, configuration, peers, background work).
  public init(
    name: String, schema: String, migrations: Migrator, policy: AccessPolicy = AccessPolicy(),
    build: @escaping @Sendable (ServiceDependencies) throws -> [any RPCService]
  ) {
    self.name = name
    self.schema = schema
    self.migrations = migrations
    var policy = policy
    policy.allow(Tuoyu_Feed_V1_ChangeFeed.Method.watchEvents, roles: [Roles.service, Roles.auditor])
    policy.allow(Tuoyu_Audit_V1_AuditTrail.Method.listAuditEntries, roles: [Roles.auditor])
    self.policy = policy
    self.makeServices = build
  }

  /// Runs until SIGTERM or SIGINT, then stops gracefully: health turns NOT_SERVING, the gRPC
  /// server drains its calls (up to `shutdownGrace`), then the metrics endpoint and the database
  /// pool close — in that order, by a `ServiceGroup`.
  public func run(
    _ configuration: ServiceConfiguration,
    started: @Sendable (Running, ServiceGroup) async -> Void = { _, _ in }
  ) async throws {
    let running = try await start(configuration)
    let metrics = running.metricsPort.map { " metrics on http://\(configuration.metricsHost):\($0)/metrics" } ?? ""
    print("\(name) listening on \(configuration.host):\(running.port)\(metrics)")
    fflush(nil)
    let group = ServiceGroup(
      configuration: .init(
        services: running.lifecycle, gracefulShutdownSignals: [.sigterm, .sigint],
        cancellationSignals: [.sigquit], logger: running.logger))
    await started(running, group)
    do {
      try await group.run()
    } catch let error as ServiceGroupError {
      // A part that failed (the schema guard's refused migration) is the error to report.
      running.logger.info("stopped")
      throw running.guardFailure() ?? error
    }
    running.logger.info("stopped")
  }

  /// A started service.
  public struct Running: Sendable {
    public let port: Int
    /// Where `/metrics` is served, unless disabled.
    public let metricsPort: Int?
    public let health: HealthService
    /// Where the plaintext health-only listener answers, if configured (`--health-listen`).
    public let healthPort: Int?
    let server: RPCServer
    let healthServer: RPCServer?
    let pool: PostgresPool
    let listener: PostgresListener
    let metrics: MetricsHTTPServer?
    let prober: Task<Void, Never>
    let logger: Logger
    let shutdownGrace: Duration
    let background: [any Service]
    /// Set when the schema and this build disagree (a refused migration): the process must stop.
    let refusal: MigrationRefusal

    /// Why the service cannot go on running, if it cannot.
    public func guardFailure() -> (any Error)? { refusal.error }

    /// Stops everything now (the same order as a graceful shutdown).
    public func stop() async {
      for part in parts.reversed() { await part.stop() }
      logger.info("stopped")
    }

    /// The parts for a `ServiceGroup`, which shuts them down in reverse: the pool, metrics, the
    /// prober, the gRPC server, the schema guard, then the background services.
    var lifecycle: [ServiceGroupConfiguration.ServiceConfiguration] {
      parts.map { .init(service: $0) } + [
        .init(
          service: SchemaGuard(refusal: refusal), successTerminationBehavior: .gracefullyShutdownGroup,
          failureTerminationBehavior: .gracefullyShutdownGroup)
      ]
        + background.map { .init(service: $0) }
    }

    /// The parts in start order.
    private var parts: [StopOnShutdown] {
      let (pool, listener, metrics, prober, health, server, logger, grace) =
        (self.pool, self.listener, self.metrics, self.prober, self.health, self.server, self.logger, shutdownGrace)
      let healthServer = self.healthServer
      return [
        StopOnShutdown("database pool") {
          listener.stop()
          await pool.close()
        },
        StopOnShutdown("metrics endpoint") { await metrics?.close() },
        StopOnShutdown("health prober") { prober.cancel() },
        StopOnShutdown("gRPC server") {
          logger.info("stopping: draining calls")
          for name in health.serviceNames { health.setStatus(.notServing, for: name) }
          await server.shutdown(gracePeriod: TimeAmount(grace))
          // Probes see NOT_SERVING while the calls drain, then the health listener closes too.
          await healthServer?.shutdown()
        },
      ]
    }
  }

  public func start(_ configuration: ServiceConfiguration) async throws -> Running {
    let logger = Logger(label: "tuoyu.\(name)")
    let health = HealthService()
    let fullName = "tuoyu.\(name).v1"
    health.setStatus(.notServing)
    health.setStatus(.notServing, for: fullName)
    health.setStatus(.serving, for: Self.liveness)

    let server = try await serverConfiguration(configuration)
    // What holds threads, connections and ports starts once the files above have been read, and
    // is stopped again if a later step fails.
    let pool = PostgresPool(
      configuration: .init(
        url: configuration.databaseURL, maxConnections: configuration.maxConnections,
        statementTimeout: .seconds(30), setup: ["SET search_path = \"\(schema)\""]))
    // Wakes the change feed when an outbox commit notifies (polling stays as the fallback).
    let listener = PostgresListener(
      conninfo: configuration.databaseURL, channel: ChangeFeedService.channel(schema: schema))
    let dependencies = ServiceDependencies(pool: pool, logger: logger, configuration: configuration)
    let stopEarly: @Sendable () async -> Void = {
      listener.stop()
      await pool.close()
    }
    let rpc: RPCServer
    do {
      let services: [any RPCService] =
        [
          health,
          ChangeFeedService(source: name, pool: pool, pollInterval: .seconds(1), listener: listener),
          AuditTrailService(pool: pool),
        ] + (try makeServices(dependencies))
      // Server reflection describes every service above (and itself) to grpcurl, IDEs, …
      rpc = try RPCServer(
        configuration: server, services: services + [ReflectionService(services: services)], logger: logger)
      // Health answers by each service's full gRPC name too (tuoyu.registry.v1.Registry, the feed,
      // the audit trail), as probes and load balancers ask.
      for name in Set(rpc.methods.map(\.service)) where name != Grpc_Health_V1_Health.serviceName {
        health.setStatus(.notServing, for: name)
      }
    } catch {
      await stopEarly()
      throw error
    }
    let port: Int
    var metricsServer: MetricsHTTPServer?
    var healthServer: RPCServer?
    var healthPort: Int?
    do {
      port = try await rpc.start()
      if let host = configuration.healthHost, let hport = configuration.healthPort {
        // Only the health service, without TLS or tokens: what a probe may learn is SERVING or not.
        // It is reachable without a token, so it keeps the gRPC server's limits.
        var probeConfiguration = RPCServer.Configuration(host: host, port: hport)
        probeConfiguration.http2 = configuration.http2
        probeConfiguration.maxConnections = configuration.maxClientConnections
        probeConfiguration.idleSpin = nil
        let probe = try RPCServer(configuration: probeConfiguration, services: [health], logger: logger)
        healthServer = probe
        do {
          healthPort = try await probe.start()
        } catch {
          throw ConfigurationError("cannot serve health on \(host):\(hport): \(error)")
        }
      }
      if let metricsPort = configuration.metricsPort {
        do {
          metricsServer = try await MetricsHTTPServer(host: configuration.metricsHost, port: metricsPort)
        } catch {
          throw ConfigurationError("cannot serve metrics on \(configuration.metricsHost):\(metricsPort): \(error)")
        }
      }
    } catch {
      await rpc.shutdown()
      await healthServer?.shutdown()
      await stopEarly()
      throw error
    }
    logger.info(
      "listening",
      metadata: [
        "port": "\(port)", "schema": "\(schema)", "metrics_port": "\(metricsServer?.port ?? 0)",
        "health_port": "\(healthPort ?? 0)",
      ])
    let refusal = MigrationRefusal()
    let prober = startProber(
      pool: pool, health: health, refusal: refusal, interval: configuration.healthInterval, logger: logger)
    return Running(
      port: port, metricsPort: metricsServer?.port, health: health, healthPort: healthPort, server: rpc,
      healthServer: healthServer, pool: pool, listener: listener,
      metrics: metricsServer,
      prober: prober, logger: logger, shutdownGrace: configuration.shutdownGrace, background: dependencies.background,
      refusal: refusal)
  }

  /// The gRPC server's configuration: address, interceptors (metrics, authentication against
  /// the city's public key and the policy, database errors), TLS when configured.
  func serverConfiguration(_ configuration: ServiceConfiguration) async throws -> RPCServer.Configuration {
    var server = RPCServer.Configuration(host: configuration.host, port: configuration.port)
    guard let keyPath = configuration.tokenPublicKey else {
      throw ConfigurationError("--token-public-key is required")
    }
    let verifier = try await TokenVerifier(publicKeyPEM: try String(contentsOfFile: keyPath, encoding: .utf8))
    server.interceptors = [
      MetricsInterceptor(), AuthInterceptor(verifier: verifier, policy: policy),
    ]
    server.onRefusedCall = { Telemetry.refusedCall($0) }
    server.http2 = configuration.http2
    server.maxConnections = configuration.maxClientConnections
    server.idleSpin = configuration.idleSpin
    if let cert = configuration.tlsCertificate, let key = configuration.tlsKey {
      server.tls = .makeServerConfiguration(
        certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
        privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
    }
    return server
  }

  /// Migrates the schema (retrying while the database is not there yet), then probes the database
  /// every `interval`: health SERVING only while it answers, the serving and pool gauges, and a
  /// refused migration recorded in `refusal` (the schema guard then ends the process's group).
  func startProber(
    pool: PostgresPool, health: HealthService, refusal: MigrationRefusal, interval: Duration,
    logger: Logger
  ) -> Task<Void, Never> {
    let servingGauge = Gauge(label: "tuoyu_serving", dimensions: [("service", name)])
    let poolGauges = ["open", "idle", "waiting"].map {
      Gauge(label: "tuoyu_db_pool_connections", dimensions: [("service", name), ("state", $0)])
    }

    // Migrate (retrying while the database is not there yet), then keep probing it.
    let migrator = migrations
    return Task {
      var migrated = false
      var lastError = ""
      var reported = ""
      while !Task.isCancelled {
        var ok = false
        do {
          if !migrated {
            let applied = try await migrator.migrate(pool)
            migrated = true
            logger.info("migrated", metadata: ["applied": "\(applied)"])
          }
          _ = try await pool.query("SELECT 1")
          ok = true
        } catch let error as MigrationError {
          // The schema and this build disagree: refuse to run rather than serve on a bad schema.
          // The schema guard ends the process's ServiceGroup with this error; `main` decides the
          // exit code.
          logger.critical("migration refused; stopping", metadata: ["error": "\(error)"])
          refusal.record(error)
          for name in health.serviceNames { health.setStatus(.notServing, for: name) }
          return
        } catch {
          lastError = "\(error)"
        }
        let status: ServingStatus = ok ? .serving : .notServing
        if health.status(of: "") != status || (!ok && lastError != reported) {
          logger.log(
            level: ok ? .info : .warning, ok ? "serving" : "not serving: database unavailable",
            metadata: ok ? [:] : ["error": "\(lastError)"])
          reported = ok ? "" : lastError
        }
        // The whole server, its package name and each of its services (not liveness: the process
        // is alive while the database is away, and restarting it would not bring the database back).
        for name in health.serviceNames where name != ServiceRunner.liveness { health.setStatus(status, for: name) }
        servingGauge.record(ok ? 1 : 0)
        let stats = pool.statistics
        for (gauge, value) in zip(poolGauges, [stats.open, stats.idle, stats.waiting]) { gauge.record(value) }
        try? await Task.sleep(for: interval)
      }
    }
  }

}

/// One part of a running service for the `ServiceGroup`: it runs until graceful shutdown (or
/// cancellation) begins, then stops its part.
struct StopOnShutdown: Service, CustomStringConvertible {
  let description: String
  let stop: @Sendable () async -> Void

  init(_ description: String, stop: @escaping @Sendable () async -> Void) {
    self.description = description
    self.stop = stop
  }

  func run() async throws {
    try? await gracefulShutdown()
    await stop()
  }
}

/// A refused migration, once: recorded by the prober, awaited by the schema guard.
final class MigrationRefusal: Sendable {
  private let box = NIOLockedValueBox<(any Error)?>(nil)
  private let stream: AsyncStream<any Error>
  private let continuation: AsyncStream<any Error>.Continuation

  init() { (stream, continuation) = AsyncStream.makeStream(of: (any Error).self) }

  var error: (any Error)? { box.withLockedValue { $0 } }

  func record(_ error: any Error) {
    box.withLockedValue { $0 = error }
    continuation.yield(error)
    continuation.finish()
  }

  /// The refusal when it comes; nil when the wait is cancelled.
  func wait() async -> (any Error)? {
    for await error in stream { return error }
    return nil
  }
}

/// Ends the process's `ServiceGroup` with the refusal when a migration is refused, so that `run`
/// throws it instead of the process exiting from library code; returns at graceful shutdown.
struct SchemaGuard: Service {
  let refusal: MigrationRefusal

  func run() async throws {
    if let error = await cancelWhenGracefulShutdown({ await refusal.wait() }) { throw error }
  }
}
