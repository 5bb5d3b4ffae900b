import Foundation
import Postgres
import ServiceKit
import Testing

@Suite struct SharedTablesTests {
  func dir(_ files: [String: String]) throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("svc-mig-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    for (name, sql) in files { try sql.write(to: d.appendingPathComponent(name), atomically: true, encoding: .utf8) }
    return d
  }

  @Test func sharedTablesComeFirstThenTheServicesOwn() throws {
    let m = try SharedTables.migrator(
      schema: "x", serviceMigrations: try dir(["0100_thing.sql": "CREATE TABLE thing (id int)"]))
    #expect(m.migrations.map(\.version) == [1, 2, 3, 4, 5, 100])
    #expect(m.migrations.first?.name == "outbox")
  }

  @Test func aServiceMigrationInTheSharedRangeIsRefused() throws {
    #expect(throws: MigrationError.self) {
      try SharedTables.migrator(schema: "x", serviceMigrations: try dir(["0002_clash.sql": "SELECT 1"]))
    }
  }
}
