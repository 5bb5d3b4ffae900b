import Foundation
import Postgres

/// The tables every service has in its own schema — outbox, feed cursors, audit log,
/// idempotency — defined once here (migrations 0001–0099); a service's own start at 0100.
public enum SharedTables {
  public static let lastSharedVersion = 99

  /// The shared migrations — ServiceKit's and those of the shared modules a service uses
  /// (`sharedMigrations`, e.g. RegistryView's 0090), all numbered below 100 — followed by the
  /// service's own from `serviceMigrations`.
  public static func migrator(
    schema: String, serviceMigrations: URL? = nil, sharedMigrations: [URL] = []
  ) throws
    -> Migrator
  {
    guard let shared = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
      throw MigrationError(description: "ServiceKit's Migrations resource is missing")
    }
    let own = try serviceMigrations.map { try Migrator.load(schema: schema, directory: $0).migrations } ?? []
    if let low = own.first(where: { $0.version <= lastSharedVersion }) {
      throw MigrationError(
        description:
          "migration \(low.version)_\(low.name) of \(schema) is numbered in the shared range 1–\(lastSharedVersion); service migrations start at 100"
      )
    }
    var base = try Migrator.load(schema: schema, directory: shared).migrations
    for directory in sharedMigrations {
      let more = try Migrator.load(schema: schema, directory: directory).migrations
      if let high = more.first(where: { $0.version > lastSharedVersion }) {
        throw MigrationError(
          description:
            "shared migration \(high.version)_\(high.name) is numbered past the shared range 1–\(lastSharedVersion)")
      }
      base += more
    }
    base.sort { $0.version < $1.version }
    return try Migrator(schema: schema, migrations: base + own)
  }
}
