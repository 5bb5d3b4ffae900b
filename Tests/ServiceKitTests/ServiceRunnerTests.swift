import API
import Foundation
import Logging
import Postgres
import RPC
import ServiceKit
import ServiceKitTesting
import Testing

/// A method whose handler runs a slow query, to prove an RPC deadline cancels it in Postgres.
struct SlowService: RPCService {
  static let sleep = MethodDescriptor(service: "tuoyu.test.v1.Slow", method: "Sleep", kind: .unary)
  let pool: PostgresPool

  func register(on router: inout RPCRouter) {
    let pool = self.pool
    router.registerUnary(Self.sleep) { (_: Req, _: ServerContext) -> Resp in
      try await pool.query("SELECT pg_sleep(30), 'tuoyu-deadline-probe'")
      return Resp()
    }
  }
}

@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"))
struct ServiceRunnerTests {
  /// A whole service (runner, auth, metrics, pool) in this process, on a fresh schema.
  func start() async throws -> (ServiceRunner.Running, TokenIssuer, PostgresPool) {
    let (schema, pool) = try await TestDB.schema("runner")
    let (priv, pub) = try TokenIssuer.makeKeyPair()
    let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("tuoyu-\(UUID().uuidString).pem")
    try pub.write(to: keyFile, atomically: true, encoding: .utf8)
    var policy = AccessPolicy()
    policy.allow(SlowService.sleep, roles: ["tester"])
    let runner = ServiceRunner(
      name: "runnertest", schema: schema, migrations: try SharedTables.migrator(schema: schema), policy: policy,
      services: { [SlowService(pool: $0)] })
    var config = ServiceConfiguration(databaseURL: TestDB.url!, healthInterval: .milliseconds(50))
    config.tokenPublicKey = keyFile.path
    let running = try await runner.start(config)
    return (running, try await TokenIssuer(privateKeyPEM: priv), pool)
  }

  @Test func anRPCDeadlineCancelsItsRunningQueryOnTheServer() async throws {
    let (running, issuer, pool) = try await start()
    let client = try RPCClient(host: "127.0.0.1", port: running.port)
    var md = Metadata()
    md.addString(
      "Bearer \(try await issuer.issue(TokenClaims(subject: "t", department: "health", roles: ["tester"], lifetime: 600)))",
      forKey: "authorization")
    let began = ContinuousClock.now
    do {
      let _: UnaryResponse<Resp> = try await client.unary(
        SlowService.sleep, request: Req(), metadata: md, options: CallOptions(timeout: .milliseconds(300)))
      Issue.record("a 30 s query answered within a 300 ms deadline")
    } catch let error as RPCError {
      #expect(error.code == .deadlineExceeded, "\(error)")
    }
    #expect(ContinuousClock.now - began < .seconds(5))
    // The backend stops running the statement: PQcancel reached the server.
    var running_ = -1
    for _ in 0..<50 {
      running_ = try await pool.query(
        """
        SELECT count(*) FROM pg_stat_activity
        WHERE state = 'active' AND query LIKE '%tuoyu-deadline-' || 'probe%' AND pid <> pg_backend_pid()
        """)[0].decode(Int.self, at: 0)
      if running_ == 0 { break }
      try await Task.sleep(for: .milliseconds(100))
    }
    #expect(running_ == 0, "the slow query still runs on the server")
    await client.close()
    await running.stop()
    await pool.close()
  }

  @Test func aConsumerFollowsAPeerFeedWithItsServiceToken() async throws {
    let (running, issuer, producer) = try await start()
    for i in 1...3 {
      try await producer.withTransaction { tx in try await Outbox.append(tx, eventType: "t", subject: "s/\(i)") }
    }
    let (_, consumerPool) = try await TestDB.schema("follower")
    let consumer = ChangeFeedConsumer(source: "runnertest", pool: consumerPool)
    func effect(_ e: Tuoyu_Feed_V1_Event, _ tx: PostgresSession) async throws {
      try await tx.query("INSERT INTO effects (cursor, subject) VALUES (\(e.cursor), \(e.subject))")
    }
    var config = ServiceConfiguration(databaseURL: TestDB.url!)
    #expect(throws: ConfigurationError.self) { try config.peerClient("runnertest") }
    config.peers["runnertest"] = ("127.0.0.1", running.port)

    // Without a service token the feed refuses, and nothing takes effect.
    let anonymous = try config.peerClient("runnertest")
    await #expect {
      try await consumer.run(client: anonymous, effect)
    } throws: { ($0 as? RPCError)?.code == .unauthenticated }
    #expect(try await consumer.storedCursor() == 0)
    await anonymous.close()

    config.serviceToken = try await issuer.issue(
      TokenClaims(subject: "svc-follower", department: "finance", roles: ["service"], lifetime: 600))
    let client = try config.peerClient("runnertest")
    let follow = Task { await consumer.follow(client: client, logger: Logger(label: "test"), effect) }
    var applied = 0
    for _ in 0..<100 where applied < 3 {
      applied = try await consumerPool.query("SELECT count(*) FROM effects")[0].decode(Int.self, at: 0)
      try await Task.sleep(for: .milliseconds(50))
    }
    #expect(applied == 3)
    #expect(try await consumer.storedCursor() == 3)
    follow.cancel()
    await follow.value
    await client.close()
    await running.stop()
    await producer.close()
    await consumerPool.close()
  }
}

@Suite struct ServiceConfigurationTests {
  let env = ["TUOYU_DATABASE_URL": "postgresql://x@h/db", "TUOYU_TOKEN_PUBLIC_KEY": "/k.pem", "TUOYU_TOKEN": "dev"]

  @Test func flagsWinOverEnvironmentAndPeersAreRead() throws {
    let c = try ServiceConfiguration.load(
      arguments: [
        "--listen", "0.0.0.0:50061", "--metrics-listen=127.0.0.1:9464", "--peer-registry", "[::1]:50051",
        "--service-token", "abc", "--database-url", "postgresql://y@h/db",
      ],
      environment: env.merging(["TUOYU_PEER_WORKFORCE": "10.0.0.2:50062"]) { $1 })
    #expect(c.host == "0.0.0.0" && c.port == 50061)
    #expect(c.databaseURL == "postgresql://y@h/db")
    #expect(c.metricsHost == "127.0.0.1" && c.metricsPort == 9464)
    #expect(c.peers["registry"]! == ("::1", 50051))
    #expect(c.peers["workforce"]! == ("10.0.0.2", 50062))
    #expect(c.serviceToken == "abc")
    #expect(try ServiceConfiguration.load(arguments: ["--metrics-listen", "off"], environment: env).metricsPort == nil)
  }

  /// The deployment's settings: a CA for calling peers over TLS (not a peer named "ca"), a
  /// plaintext health listener; a CA file that cannot be read is named when a peer is made.
  @Test func peerTLSAndHealthListenerAreRead() throws {
    let c = try ServiceConfiguration.load(
      arguments: ["--health-listen", "0.0.0.0:8081", "--peer-registry", "registry:50051"],
      environment: env.merging(["TUOYU_TLS_CA": "/nonexistent/ca.crt"]) { $1 })
    #expect(c.tlsCA == "/nonexistent/ca.crt" && c.peers["ca"] == nil && c.peers.count == 1)
    #expect(c.healthHost == "0.0.0.0" && c.healthPort == 8081)
    #expect(throws: ConfigurationError.self) { try c.peerClient("registry") }
    let plain = try ServiceConfiguration.load(arguments: ["--health-listen", "off"], environment: env)
    #expect(plain.tlsCA == nil && plain.healthPort == nil)
  }

  /// The server limits: safe defaults, each one settable, "off" where a limit may be lifted.
  @Test func serverLimitsHaveDefaultsAndFlags() throws {
    let d = try ServiceConfiguration.load(arguments: [], environment: env)
    #expect(d.http2.minPingInterval == .minutes(5) && d.http2.maxPingStrikes == 2)
    #expect(d.http2.maxConnectionIdle == .minutes(30) && d.http2.maxConnectionAge == nil)
    #expect(d.http2.headerTimeout == .seconds(10) && d.http2.maxConcurrentStreams == 100)
    #expect(d.maxClientConnections == 4096)
    let c = try ServiceConfiguration.load(
      arguments: [
        "--keepalive-min-time-s", "60", "--keepalive-permit-without-calls", "true", "--max-connection-idle-s", "off",
        "--max-connection-age-s", "3600", "--max-connection-age-grace-s", "20", "--header-timeout-s", "5",
        "--max-concurrent-streams", "250", "--max-client-connections", "off",
      ], environment: env)
    #expect(c.http2.minPingInterval == .seconds(60) && c.http2.permitPingWithoutCalls)
    #expect(c.http2.maxConnectionIdle == nil && c.http2.maxConnectionAge == .seconds(3600))
    #expect(c.http2.maxConnectionAgeGrace == .seconds(20) && c.http2.headerTimeout == .seconds(5))
    #expect(c.http2.maxConcurrentStreams == 250 && c.maxClientConnections == nil)
    #expect(d.idleSpin == IdleSpin.defaultWindow)
    let spin = try ServiceConfiguration.load(arguments: ["--idle-spin-us", "250"], environment: env)
    #expect(spin.idleSpin == .microseconds(250))
    let off = try ServiceConfiguration.load(
      arguments: [], environment: env.merging(["TUOYU_IDLE_SPIN_US": "off"]) { $1 })
    #expect(off.idleSpin == nil)
  }

  @Test(arguments: [
    (["--listen", "nonsense"], "--listen must be HOST:PORT"),
    (["--metrics-listen", "1.2.3.4"], "--metrics-listen must be HOST:PORT"),
    (["--peer-registry", "x:99999"], "--peer-registry must be HOST:PORT"),
    (["--frobnicate", "1"], "unknown setting --frobnicate"),
    (["--service-token-file", "/nonexistent/token"], "cannot be read"),
    (["--health-interval-ms", "0"], "--health-interval-ms must be > 0"),
    (["--listen"], "--listen needs a value"),
    (["--max-connection-idle-s", "0"], "--max-connection-idle-s must be seconds"),
    (["--max-connection-age-grace-s", "off"], "--max-connection-age-grace-s must be seconds, 1–31536000"),
    (["--keepalive-permit-without-calls", "maybe"], "must be true or false"),
    (["--max-concurrent-streams", "0"], "--max-concurrent-streams must be 1–100000"),
    (["--max-client-connections", "-1"], "--max-client-connections must be > 0"),
    (["--health-listen", "8081"], "--health-listen must be HOST:PORT"),
    (["--idle-spin-us", "10001"], "--idle-spin-us must be microseconds, 1–10000, or off"),
    (["--idle-spin-us", "-5"], "--idle-spin-us must be microseconds"),
  ])
  func badSettingsAreNamed(arguments: [String], message: String) {
    do {
      _ = try ServiceConfiguration.load(arguments: arguments, environment: env)
      Issue.record("accepted \(arguments)")
    } catch {
      #expect("\(error)".contains(message), "\(error)")
    }
  }
}
