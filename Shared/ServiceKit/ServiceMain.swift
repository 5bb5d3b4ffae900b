import API
import Foundation
import Logging
import Postgres
import RPC
import RPCHealth

/// The whole `main` of a service executable: logs, configuration, migrations from the
/// executable's bundled `Migrations` folder, run until SIGTERM. The only place that decides the
/// exit code: 64 for bad configuration, 78 when a migration is refused, 1 for anything else.
public enum ServiceMain {
  public static func run(
    name: String, schema: String, migrations directory: URL?, policy: AccessPolicy = AccessPolicy(),
    services: @escaping @Sendable (PostgresPool) -> [any RPCService] = { _ in [] }
  ) async {
    await run(name: name, schema: schema, migrations: directory, policy: policy, build: { services($0.pool) })
  }

  /// The same, for a service built from its dependencies (peers, background work, …).
  public static func run(
    name: String, schema: String, migrations directory: URL?, sharedMigrations: [URL] = [],
    policy: AccessPolicy = AccessPolicy(), build: @escaping @Sendable (ServiceDependencies) throws -> [any RPCService]
  ) async {
    if CommandLine.arguments.dropFirst().contains("--version") {
      print("tuoyu-\(name) \(TuoyuVersion.string)")
      exit(0)
    }
    let arguments = Array(CommandLine.arguments.dropFirst())
    if arguments.first == "--health-check" {
      exit(await healthCheck(name: name, address: arguments.dropFirst().first))
    }
    exitAtOnceOnCrash()
    EventLoopThreads.fitSingletonToAffinity()
    let configuration: ServiceConfiguration
    do {
      configuration = try ServiceConfiguration.load()
    } catch {
      FileHandle.standardError.write(Data("tuoyu-\(name): \(error)\n".utf8))
      exit(64)
    }
    JSONLogHandler.bootstrap(level: configuration.logLevel)
    recordBuildInfo(service: name)
    let logger = Logger(label: "tuoyu.\(name)")
    do {
      guard let directory else { throw ConfigurationError("the executable has no Migrations resource") }
      let migrator = try SharedTables.migrator(
        schema: schema, serviceMigrations: directory, sharedMigrations: sharedMigrations)
      try await ServiceRunner(
        name: name, schema: schema, migrations: migrator, policy: policy, build: build
      ).run(configuration)
    } catch let error as MigrationError {
      // The schema and this build disagree (an applied migration was edited): EX_CONFIG.
      logger.critical("migration refused", metadata: ["error": "\(error)"])
      exit(78)
    } catch let error as ConfigurationError {
      FileHandle.standardError.write(Data("tuoyu-\(name): \(error)\n".utf8))
      exit(64)
    } catch {
      logger.critical("failed", metadata: ["error": "\(error)"])
      exit(1)
    }
  }

  /// `tuoyu-NAME --health-check [HOST:PORT]`: asks the service's plaintext health listener
  /// (`--health-listen`, `TUOYU_HEALTH_LISTEN` by default; a wildcard host is asked on loopback)
  /// whether it is SERVING — the container image's health check. 0 if it is, 1 if not or no answer
  /// within 3 s, 64 without an address.
  static func healthCheck(name: String, address: String?) async -> Int32 {
    func fail(_ message: String, _ code: Int32 = 1) -> Int32 {
      FileHandle.standardError.write(Data("tuoyu-\(name) --health-check: \(message)\n".utf8))
      return code
    }
    guard let value = address ?? ProcessInfo.processInfo.environment["TUOYU_HEALTH_LISTEN"] else {
      return fail("give HOST:PORT or set TUOYU_HEALTH_LISTEN", 64)
    }
    let host: String
    let port: Int
    do {
      (host, port) = try ServiceConfiguration.address(value, flag: "health-check")
    } catch {
      return fail("\(error)", 64)
    }
    let asked = ["", "0.0.0.0", "::"].contains(host) ? "127.0.0.1" : host
    var configuration = RPCClient.Configuration(host: asked, port: port)
    configuration.connectTimeout = .seconds(3)
    guard let client = try? RPCClient(configuration: configuration) else { return fail("bad address \(value)", 64) }
    let answer: Result<Grpc_Health_V1_HealthCheckResponse, any Error>
    do {
      answer = .success(
        try await Grpc_Health_V1_Health.Client(client).check(
          .with { $0.service = "" }, options: CallOptions(timeout: .seconds(3))))
    } catch {
      answer = .failure(error)
    }
    await client.close()
    switch answer {
    case .success(let response) where response.status == .serving:
      print("SERVING")
      return 0
    case .success(let response): return fail("\(asked):\(port) answers \(response.status)")
    case .failure(let error): return fail("\(asked):\(port): \(error)")
    }
  }

  /// Swift's backtracer symbolicates a crash for ~12 s before the process exits, and the service
  /// answers nothing meanwhile; in production a crash should end the process at once so that
  /// its supervisor restarts it. The runtime reads SWIFT_BACKTRACE only at start, so when it is
  /// not set the executable starts itself again with `enable=no` (set it to keep backtraces).
  static func exitAtOnceOnCrash() {
    guard getenv("SWIFT_BACKTRACE") == nil else { return }
    setenv("SWIFT_BACKTRACE", "enable=no", 1)
    let args = CommandLine.arguments.map { strdup($0) } + [nil]
    execv("/proc/self/exe", args)
    // execv returns only on failure: carry on with backtraces on.
  }
}
