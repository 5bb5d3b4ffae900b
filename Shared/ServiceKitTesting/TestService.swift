import Foundation
import Postgres
import RPC
import ServiceKit

/// A service running in this process on a fresh schema of the test database, behind the real
/// transport (a free loopback port) and the real authentication, with a key pair of its own to
/// issue tokens for any roles. What an integration test of a service starts.
public final class TestService: Sendable {
  public let running: ServiceRunner.Running
  public let issuer: TokenIssuer
  /// A pool in the service's schema, for checking what the service wrote.
  public let pool: PostgresPool
  public let schema: String

  /// Starts the service `name` (its migrations, policy and RPC services) and waits until it
  /// serves.
  public static func start(
    name: String, migrations: URL, policy: AccessPolicy,
    services: @escaping @Sendable (PostgresPool) -> [any RPCService]
  ) async throws -> TestService {
    try await start(name: name, migrations: migrations, policy: policy, build: { services($0.pool) })
  }

  /// The same, for a service built from its dependencies; `configure` adjusts the configuration
  /// first (peers, the service token, the vault's key file).
  public static func start(
    name: String, migrations: URL, sharedMigrations: [URL] = [], policy: AccessPolicy,
    configure: (inout ServiceConfiguration) -> Void = { _ in },
    build: @escaping @Sendable (ServiceDependencies) throws -> [any RPCService]
  ) async throws -> TestService {
    let (schema, pool) = try await TestDB.freshSchema(String(name.prefix(8)), maxConnections: 2)
    let (privateKey, publicKey) = try TokenIssuer.makeKeyPair()
    let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("tuoyu-\(UUID().uuidString).pem")
    try publicKey.write(to: keyFile, atomically: true, encoding: .utf8)
    let runner = ServiceRunner(
      name: name, schema: schema,
      migrations: try SharedTables.migrator(
        schema: schema, serviceMigrations: migrations, sharedMigrations: sharedMigrations),
      policy: policy, build: build)
    var config = ServiceConfiguration(databaseURL: TestDB.url!, healthInterval: .milliseconds(50))
    config.tokenPublicKey = keyFile.path
    config.metricsPort = nil
    configure(&config)
    let running = try await runner.start(config)
    for _ in 0..<100 where running.health.status(of: "") != .serving { try await Task.sleep(for: .milliseconds(50)) }
    return TestService(
      running: running, issuer: try await TokenIssuer(privateKeyPEM: privateKey), pool: pool, schema: schema)
  }

  init(running: ServiceRunner.Running, issuer: TokenIssuer, pool: PostgresPool, schema: String) {
    self.running = running
    self.issuer = issuer
    self.pool = pool
    self.schema = schema
  }

  /// A client of the service presenting a token with `roles` (no token when nil).
  public func client(
    _ roles: [String]?, subject: String = "tester", department: String = "health", institution: String? = nil,
    region: String? = nil
  ) async throws -> RPCClient {
    var config = RPCClient.Configuration(host: "127.0.0.1", port: running.port)
    if let roles {
      let token = try await issuer.issue(
        TokenClaims(
          subject: subject, department: department, roles: roles, lifetime: 600, institution: institution,
          region: region))
      config.defaultMetadata.addString("Bearer \(token)", forKey: "authorization")
    }
    return try RPCClient(configuration: config)
  }

  public func count(_ sql: PostgresQuery) async throws -> Int { try await TestDB.count(pool, sql) }

  public func stop() async {
    await running.stop()
    await pool.close()
  }
}
