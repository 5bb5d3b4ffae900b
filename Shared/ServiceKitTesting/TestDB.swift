import Foundation
import Postgres
import ServiceKit

#if canImport(Glibc)
  import Glibc
#endif

/// The throwaway Postgres cluster `scripts/test` starts (`TUOYU_TEST_DATABASE_URL`, its folder in
/// `TUOYU_TEST_PG_DIR`): what every test target that needs a real database uses.
public enum TestDB {
  public static let url = ProcessInfo.processInfo.environment["TUOYU_TEST_DATABASE_URL"]
  public static let directory = ProcessInfo.processInfo.environment["TUOYU_TEST_PG_DIR"]
  public static var available: Bool { url != nil }

  /// A pool on the test database (its default schema).
  public static func pool(
    max: Int = 4, acquireTimeout: Duration = .seconds(5), statementTimeout: Duration? = nil
  )
    -> PostgresPool
  {
    PostgresPool(
      configuration: .init(
        url: url!, maxConnections: max, acquireTimeout: acquireTimeout, statementTimeout: statementTimeout))
  }

  /// A new empty schema named `prefix_…`, and a pool whose connections work in it.
  public static func freshSchema(_ prefix: String, maxConnections: Int = 6) async throws -> (String, PostgresPool) {
    let name = prefix + "_" + UUID().uuidString.prefix(8).lowercased()
    let admin = PostgresPool(configuration: .init(url: url!, maxConnections: 1))
    try await admin.query("CREATE SCHEMA \(identifier: name)")
    await admin.close()
    let pool = PostgresPool(
      configuration: .init(
        url: url!, maxConnections: maxConnections, setup: ["SET search_path = \"\(name)\""]))
    return (name, pool)
  }

  /// A new schema with the tables every service shares (outbox, feed, audit, idempotency).
  public static func serviceSchema(_ prefix: String) async throws -> (String, PostgresPool) {
    let (name, pool) = try await freshSchema(prefix)
    try await SharedTables.migrator(schema: name).migrate(pool)
    return (name, pool)
  }

  /// The repository's root (for scripts/…).
  public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// Runs `scripts/pg COMMAND` on the test cluster (or the one in `directory`); what it printed.
  @discardableResult
  public static func pg(_ command: String, _ directory: String? = nil) throws -> String {
    guard
      let pipe = popen(
        "'\(root.path)/scripts/pg' \(command) '\(directory ?? self.directory!)' < /dev/null 2>/dev/null", "r")
    else { throw PostgresError(.other, "cannot run scripts/pg") }
    var output = ""
    var buffer = [CChar](repeating: 0, count: 4096)
    while fgets(&buffer, Int32(buffer.count), pipe) != nil { output += String(cString: buffer) }
    let status = pclose(pipe)
    guard status == 0 else { throw PostgresError(.other, "scripts/pg \(command) failed: \(status)") }
    return output.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// The one integer a query returns (`SELECT count(*) …`).
  public static func count(_ pool: PostgresPool, _ sql: PostgresQuery) async throws -> Int {
    try await pool.query(sql)[0].decode(Int.self, at: 0)
  }
}
