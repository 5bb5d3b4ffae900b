import Foundation
import Logging
import NIOSSL
import Postgres
import RPC
import RPCHealth

/// Starts a service the same way for every executable: configuration, logs, the database pool,
/// migrations of the service's own schema, the gRPC server with health, and a clean stop on
/// SIGTERM/SIGINT. Health reports SERVING only while migrations are done and the database
/// answers.
public struct ServiceRunner: Sendable {
  public let name: String
  public let schema: String
  public let migrations: Migrator
  public let makeServices: @Sendable (PostgresPool) -> [any RPCService]
  /// Who may call what; the change feed is open to service tokens and auditors.
  public let policy: AccessPolicy

  public init(
    name: String, schema: String, migrations: Migrator, policy: AccessPolicy = AccessPolicy(),
    services: @escaping @Sendable (PostgresPool) -> [any RPCService] = { _ in [] }
  ) {
    self.name = name
    self.schema = schema
    self.migrations = migrations
    var policy = policy
    policy.allow(Tuoyu_Feed_V1_ChangeFeed.Method.watchEvents, roles: ["service", "auditor"])
    policy.allow(Tuoyu_Audit_V1_AuditTrail.Method.listAuditEntries, roles: ["auditor"])
    self.policy = policy
    self.makeServices = services
  }

  /// Runs until SIGTERM or SIGINT.
  public func run(_ configuration: ServiceConfiguration) async throws {
    let running = try await start(configuration)
    print("\(name) listening on \(configuration.host):\(running.port)")
    fflush(nil)
    await waitForTermination()
    await running.stop()
  }

  /// A started service.
  public struct Running: Sendable {
    public let port: Int
    public let health: HealthService
    let server: RPCServer
    let pool: PostgresPool
    let prober: Task<Void, Never>
    let logger: Logger

    public func stop() async {
      logger.info("stopping")
      prober.cancel()
      health.setStatus(.notServing)
      await server.shutdown(gracePeriod: .seconds(10))
      await pool.close()
      logger.info("stopped")
    }
  }

  public func start(_ configuration: ServiceConfiguration) async throws -> Running {
    let logger = Logger(label: "tuoyu.\(name)")
    let pool = PostgresPool(configuration: .init(
      url: configuration.databaseURL, maxConnections: configuration.maxConnections,
      statementTimeout: .seconds(30), setup: ["SET search_path = \"\(schema)\""]))
    let health = HealthService()
    let fullName = "tuoyu.\(name).v1"
    health.setStatus(.notServing)
    health.setStatus(.notServing, for: fullName)

    var server = RPCServer.Configuration(host: configuration.host, port: configuration.port)
    guard let keyPath = configuration.tokenPublicKey else {
      throw ConfigurationError("--token-public-key is required")
    }
    let verifier = try await TokenVerifier(publicKeyPEM: try String(contentsOfFile: keyPath, encoding: .utf8))
    server.interceptors = [AuthInterceptor(verifier: verifier, policy: policy)]
    if let cert = configuration.tlsCertificate, let key = configuration.tlsKey {
      server.tls = .makeServerConfiguration(
        certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
        privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
    }
    let rpc = try RPCServer(
      configuration: server,
      services: [health, ChangeFeedService(source: name, pool: pool), AuditTrailService(pool: pool)]
        + makeServices(pool),
      logger: logger)
    let port = try await rpc.start()
    logger.info("listening", metadata: ["port": "\(port)", "schema": "\(schema)"])

    // Migrate (retrying while the database is not there yet), then keep probing it.
    let migrator = migrations
    let interval = configuration.healthInterval
    let prober = Task {
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
          logger.critical("migration refused; exiting", metadata: ["error": "\(error)"])
          exit(78)
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
        health.setStatus(status)
        health.setStatus(status, for: fullName)
        try? await Task.sleep(for: interval)
      }
    }
    return Running(port: port, health: health, server: rpc, pool: pool, prober: prober, logger: logger)
  }
}
