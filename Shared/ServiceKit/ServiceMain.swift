import Foundation
import Logging
import Postgres
import RPC

/// The whole `main` of a service executable: logs, configuration, migrations from the
/// executable's bundled `Migrations` folder, run until SIGTERM. Exits 64 on bad configuration.
public enum ServiceMain {
  public static func run(
    name: String, schema: String, migrations directory: URL?, policy: AccessPolicy = AccessPolicy(),
    services: @escaping @Sendable (PostgresPool) -> [any RPCService] = { _ in [] }
  ) async {
    JSONLogHandler.bootstrap()
    let logger = Logger(label: "tuoyu.\(name)")
    do {
      let configuration = try ServiceConfiguration.load()
      guard let directory else { throw ConfigurationError("the executable has no Migrations resource") }
      let migrator = try SharedTables.migrator(schema: schema, serviceMigrations: directory)
      try await ServiceRunner(
        name: name, schema: schema, migrations: migrator, policy: policy, services: services
      ).run(configuration)
    } catch let error as ConfigurationError {
      FileHandle.standardError.write(Data("tuoyu-\(name): \(error)\n".utf8))
      exit(64)
    } catch {
      logger.critical("failed", metadata: ["error": "\(error)"])
      exit(1)
    }
  }
}
