import Foundation

/// One schema migration: an ordered SQL file `NNNN_name.sql`.
public struct Migration: Sendable, Hashable {
  public let version: Int
  public let name: String
  public let sql: String

  public init(version: Int, name: String, sql: String) {
    self.version = version
    self.name = name
    self.sql = sql
  }
}

/// Why migrating refused to go on.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
  public let description: String
  public init(description: String) { self.description = description }
}

/// Applies a schema's migrations at start: in one transaction, under an advisory lock (so two
/// instances starting at once apply each migration once), recording each with its checksum. A
/// migration edited after it was applied, or one the database has but the code lacks, refuses
/// to start.
public struct Migrator: Sendable {
  public let schema: String
  public let migrations: [Migration]

  public init(schema: String, migrations: [Migration]) throws {
    let sorted = migrations.sorted { $0.version < $1.version }
    for (a, b) in zip(sorted, sorted.dropFirst()) where a.version == b.version {
      throw MigrationError(description: "two migrations numbered \(a.version): \(a.name), \(b.name)")
    }
    self.schema = schema
    self.migrations = sorted
  }

  /// Reads `NNNN_name.sql` files from `directory`.
  public static func load(schema: String, directory: URL) throws -> Migrator {
    try load(schema: schema, directories: [directory])
  }

  /// Reads `NNNN_name.sql` files from several directories (e.g. the shared tables' and the
  /// service's own); numbers must not collide.
  public static func load(schema: String, directories: [URL]) throws -> Migrator {
    var migrations: [Migration] = []
    for directory in directories {
      let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        .filter { $0.hasSuffix(".sql") }
      for file in files {
        let stem = file.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else {
          throw MigrationError(description: "migration file \(file) is not named NNNN_name.sql")
        }
        let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
        migrations.append(
          Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
      }
    }
    return try Migrator(schema: schema, migrations: migrations)
  }

  /// Applies what is missing; returns the versions applied now.
  @discardableResult
  public func migrate(_ pool: PostgresPool) async throws -> [Int] {
    try await pool.withTransaction { tx in
      try await tx.query("SELECT pg_advisory_xact_lock(hashtext(\("tuoyu.migrate." + schema)))")
      // A service's role owns its schema but may not create schemas: create only when missing.
      let exists = try await tx.query("SELECT count(*) FROM pg_namespace WHERE nspname = \(schema)")
      if try exists[0].decode(Int.self, at: 0) == 0 {
        try await tx.query("CREATE SCHEMA \(identifier: schema)")
      }
      try await tx.query(
        """
        CREATE TABLE IF NOT EXISTS \(identifier: schema).schema_migrations (
          version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now())
        """)
      let rows = try await tx.query(
        "SELECT version, name, checksum FROM \(identifier: schema).schema_migrations ORDER BY version")
      var applied: [Int: (name: String, checksum: String)] = [:]
      for row in rows {
        let (version, name, checksum) = try row.decode((Int, String, String).self)
        applied[version] = (name, checksum)
      }
      let known = Set(migrations.map(\.version))
      if let unknown = applied.keys.sorted().first(where: { !known.contains($0) }) {
        throw MigrationError(
          description:
            "schema \(schema) has migration \(unknown) (\(applied[unknown]!.name)), which this build does not know; refusing to start an older build"
        )
      }
      var done: [Int] = []
      for m in migrations {
        let checksum = try await tx.query("SELECT md5(\(m.sql))")[0].decode(String.self, at: 0)
        if let previous = applied[m.version] {
          guard previous.checksum == checksum else {
            throw MigrationError(
              description:
                "migration \(m.version)_\(m.name) of schema \(schema) was edited after it was applied (checksum \(previous.checksum), now \(checksum)); add a new migration instead"
            )
          }
          continue
        }
        try await tx.execute("SET LOCAL search_path = \"\(schema)\"")
        try await tx.execute(m.sql)
        try await tx.query(
          """
          INSERT INTO \(identifier: schema).schema_migrations (version, name, checksum)
          VALUES (\(m.version), \(m.name), \(checksum))
          """)
        done.append(m.version)
      }
      return done
    }
  }
}
