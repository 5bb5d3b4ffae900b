import Foundation
import Postgres
import ServiceKitTesting
import Testing

@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"))
struct MigratorTests {
  static func migrations(_ second: String = "ALTER TABLE item ADD COLUMN note text") -> [Migration] {
    [
      Migration(version: 1, name: "item", sql: "CREATE TABLE item (id bigint PRIMARY KEY, name text NOT NULL)"),
      Migration(version: 2, name: "note", sql: second),
    ]
  }

  func freshSchema() -> String { "mig_" + UUID().uuidString.prefix(8).lowercased() }

  @Test func freshThenRerunAppliesOnce() async throws {
    let pool = TestDB.pool()
    let schema = freshSchema()
    let migrator = try Migrator(schema: schema, migrations: Self.migrations())
    #expect(try await migrator.migrate(pool) == [1, 2])
    #expect(try await migrator.migrate(pool) == [])
    try await pool.query("INSERT INTO \(identifier: schema).item (id, name, note) VALUES (1, 'a', 'b')")
    try await pool.query("DROP SCHEMA \(identifier: schema) CASCADE")
    await pool.close()
  }

  @Test func twoInstancesStartingAtOnceApplyEachMigrationOnce() async throws {
    let pool = TestDB.pool(max: 8)
    let schema = freshSchema()
    let migrator = try Migrator(schema: schema, migrations: Self.migrations())
    let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
      for _ in 0..<4 { group.addTask { try await migrator.migrate(pool) } }
      var all: [Int] = []
      for try await versions in group { all += versions }
      return all
    }
    #expect(applied.sorted() == [1, 2])
    let count = try await pool.query("SELECT count(*) FROM \(identifier: schema).schema_migrations")[0]
      .decode(Int.self, at: 0)
    #expect(count == 2)
    try await pool.query("DROP SCHEMA \(identifier: schema) CASCADE")
    await pool.close()
  }

  @Test func editedMigrationRefusesToStartAndChangesNothing() async throws {
    let pool = TestDB.pool()
    let schema = freshSchema()
    try await Migrator(schema: schema, migrations: Self.migrations()).migrate(pool)
    var tampered = Self.migrations("ALTER TABLE item ADD COLUMN note varchar(10)")
    tampered.append(Migration(version: 3, name: "more", sql: "CREATE TABLE more (x int)"))
    do {
      try await Migrator(schema: schema, migrations: tampered).migrate(pool)
      Issue.record("a tampered migration was accepted")
    } catch let e as MigrationError {
      #expect(e.description.contains("2_note"))
      #expect(e.description.contains("edited"))
    }
    // Migration 3 did not run: the refusal rolled everything back.
    let tables = try await pool.query(
      "SELECT count(*) FROM information_schema.tables WHERE table_schema = \(schema) AND table_name = 'more'")
    #expect(try tables[0].decode(Int.self, at: 0) == 0)
    try await pool.query("DROP SCHEMA \(identifier: schema) CASCADE")
    await pool.close()
  }

  @Test func loadsNumberedFilesInOrder() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mig-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try "CREATE TABLE b (x int);".write(to: dir.appendingPathComponent("0002_b.sql"), atomically: true, encoding: .utf8)
    try "CREATE TABLE a (x int);".write(to: dir.appendingPathComponent("0001_a.sql"), atomically: true, encoding: .utf8)
    let m = try Migrator.load(schema: "x", directory: dir)
    #expect(m.migrations.map(\.name) == ["a", "b"])
    try "".write(to: dir.appendingPathComponent("bad.sql"), atomically: true, encoding: .utf8)
    #expect(throws: MigrationError.self) { try Migrator.load(schema: "x", directory: dir) }
  }
}
