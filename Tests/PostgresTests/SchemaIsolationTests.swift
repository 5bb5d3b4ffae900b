import Foundation
import Postgres
import ServiceKitTesting
import Testing

@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"))
struct SchemaIsolationTests {
  /// deploy/postgres: each service's role owns its schema and cannot read another's.
  @Test func eachServiceRoleSeesOnlyItsOwnSchema() async throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let ddl = try String(
      contentsOf: root.appendingPathComponent("deploy/postgres/001_roles_and_schemas.sql"), encoding: .utf8)
    let admin = TestDB.pool(max: 1)
    try await admin.withConnection { try await $0.execute(ddl) }
    try await admin.withConnection { try await $0.execute(ddl) }  // idempotent
    await admin.close()

    func pool(as role: String) -> PostgresPool {
      PostgresPool(configuration: .init(url: TestDB.url!.replacingOccurrences(of: "postgres@", with: "\(role)@")))
    }
    let registry = pool(as: "tuoyu_registry")
    try await registry.query("CREATE TABLE IF NOT EXISTS isolation_probe (x int)")
    #expect(try await registry.query("SELECT current_schema()")[0].decode(String.self, at: 0) == "registry")
    let subsidy = pool(as: "tuoyu_subsidy")
    do {
      try await subsidy.query("SELECT * FROM registry.isolation_probe")
      Issue.record("subsidy read registry's table")
    } catch let e as PostgresError {
      #expect(e.sqlState == "42501")  // insufficient_privilege
    }
    try await registry.query("DROP TABLE isolation_probe")
    await registry.close()
    await subsidy.close()
  }
}
