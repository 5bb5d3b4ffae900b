import Foundation
import NIOConcurrencyHelpers
import Postgres
import RPC
import ServiceKit
import ServiceKitTesting
import ServiceLifecycle
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Background work a factory adds: records that it ran, and that the pool still answered when
/// it was told to stop (background work stops before the pool closes).
struct RecordingWork: Service {
  let pool: PostgresPool
  let log: NIOLockedValueBox<[String]>

  func run() async throws {
    log.withLockedValue { $0.append("started") }
    try? await gracefulShutdown()
    do {
      _ = try await pool.query("SELECT 1")
      log.withLockedValue { $0.append("stopped, pool open") }
    } catch {
      log.withLockedValue { $0.append("stopped, pool closed") }
    }
  }
}

/// A TCP port nothing listens on (bound and released), or one held open while `hold` is set.
func loopbackPort(hold: Bool = false) -> (port: Int, fd: Int32) {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  var addr = sockaddr_in()
  addr.sin_family = sa_family_t(AF_INET)
  addr.sin_addr.s_addr = inet_addr("127.0.0.1")
  addr.sin_port = 0
  var len = socklen_t(MemoryLayout<sockaddr_in>.size)
  _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
  _ = withUnsafeMutablePointer(to: &addr) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
  }
  if hold { listen(fd, 1) } else { close(fd) }
  return (Int(UInt16(bigEndian: addr.sin_port)), hold ? fd : -1)
}

func accepts(_ port: Int) -> Bool {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  defer { close(fd) }
  var addr = sockaddr_in()
  addr.sin_family = sa_family_t(AF_INET)
  addr.sin_addr.s_addr = inet_addr("127.0.0.1")
  addr.sin_port = UInt16(port).bigEndian
  return withUnsafePointer(to: &addr) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
  } == 0
}

@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"), .serialized)
struct ServiceKitLifecycleTests {
  func configuration() throws -> ServiceConfiguration {
    let (_, pub) = try TokenIssuer.makeKeyPair()
    let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("tuoyu-\(UUID().uuidString).pem")
    try pub.write(to: keyFile, atomically: true, encoding: .utf8)
    var config = ServiceConfiguration(databaseURL: TestDB.url!, healthInterval: .milliseconds(50))
    config.tokenPublicKey = keyFile.path
    config.metricsPort = nil
    config.shutdownGrace = .milliseconds(200)
    return config
  }

  @Test func backgroundWorkRunsWithTheProcessAndStopsBeforeThePool() async throws {
    let (schema, pool) = try await TestDB.freshSchema("life")
    await pool.close()
    let log = NIOLockedValueBox<[String]>([])
    let runner = ServiceRunner(
      name: "lifecycle", schema: schema, migrations: try SharedTables.migrator(schema: schema),
      build: { deps in
        deps.addBackground(RecordingWork(pool: deps.pool, log: log))
        return []
      })
    let group = NIOLockedValueBox<ServiceGroup?>(nil)
    let config = try configuration()
    let task = Task { try await runner.run(config) { _, g in group.withLockedValue { $0 = g } } }
    for _ in 0..<100 where log.withLockedValue({ $0 }).isEmpty { try await Task.sleep(for: .milliseconds(20)) }
    #expect(log.withLockedValue { $0 } == ["started"])
    await group.withLockedValue { $0 }?.triggerGracefulShutdown()
    try await task.value
    #expect(log.withLockedValue { $0 } == ["started", "stopped, pool open"])
  }

  @Test func aFailingStartLeavesNothingRunning() async throws {
    let (schema, pool) = try await TestDB.freshSchema("fail")
    await pool.close()
    let held = loopbackPort(hold: true)
    defer { close(held.fd) }
    var config = try configuration()
    let grpcPort = loopbackPort().port
    config.port = grpcPort
    config.metricsPort = held.port  // taken: the start fails after the gRPC server is up
    let runner = ServiceRunner(name: "failing", schema: schema, migrations: try SharedTables.migrator(schema: schema))
    await #expect(throws: ConfigurationError.self) { _ = try await runner.start(config) }
    #expect(!accepts(grpcPort), "the gRPC port is still open after a failed start")
  }

  @Test func aRefusedMigrationEndsRunWithItsErrorNotTheProcess() async throws {
    let (schema, pool) = try await TestDB.freshSchema("refuse")
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let file = dir.appendingPathComponent("0100_things.sql")
    try "CREATE TABLE things (id int);".write(to: file, atomically: true, encoding: .utf8)
    try await SharedTables.migrator(schema: schema, serviceMigrations: dir).migrate(pool)
    await pool.close()
    try "CREATE TABLE things (id bigint);".write(to: file, atomically: true, encoding: .utf8)  // edited after applying
    let runner = ServiceRunner(
      name: "refusing", schema: schema, migrations: try SharedTables.migrator(schema: schema, serviceMigrations: dir))
    let config = try configuration()
    await #expect(throws: MigrationError.self) { try await runner.run(config) }
  }
}
