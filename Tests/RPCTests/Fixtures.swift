import Foundation
import Interop
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RPC
import RPCHealth

/// Methods for probing cancellation and deadlines on the server side.
enum Probe {
  static let hang = MethodDescriptor(service: "test.Probe", method: "Hang", kind: .unary)
  static let echo = MethodDescriptor(service: "test.Probe", method: "Echo", kind: .unary)
  static let fail = MethodDescriptor(service: "test.Probe", method: "Fail", kind: .unary)
}

/// Records what handlers saw.
final class ProbeLog: Sendable {
  let cancelled = NIOLockedValueBox(0)
  let started = NIOLockedValueBox(0)
  let outcomes = NIOLockedValueBox<[String]>([])
}

/// `test.Probe`: Hang waits until cancelled (and records it), Echo returns the request.
struct ProbeService: RPCService {
  let log: ProbeLog

  func register(on router: inout RPCRouter) {
    let log = self.log
    router.registerUnary(Probe.hang) { (request: Grpc_Testing_Empty, context: ServerContext) in
      log.started.withLockedValue { $0 += 1 }
      do {
        try await Task.sleep(for: .seconds(60))
      } catch {
        log.cancelled.withLockedValue { $0 += 1 }
        throw error
      }
      return Grpc_Testing_Empty()
    }
    router.registerUnary(Probe.echo) { (request: Grpc_Testing_Payload, context: ServerContext) in
      request
    }
    router.registerUnary(Probe.fail) { (request: Grpc_Testing_Empty, context: ServerContext) -> Grpc_Testing_Empty in
      var trailing = Metadata()
      trailing.addString("R-7", forKey: "x-rule")
      throw RPCError(
        code: .invalidArgument, message: "seats: must be 1…200 (规则 R-7)", metadata: trailing,
        details: [0x08, 0x03, 0x12, 0x01, 0x78])
    }
  }
}

/// Refuses calls without `authorization: Bearer good`, and records every outcome.
struct AuthInterceptor: ServerInterceptor {
  let log: ProbeLog

  func intercept(context: ServerContext, next: (ServerContext) async throws -> Void) async throws {
    guard context.requestMetadata.first("authorization") == "Bearer good" else {
      log.outcomes.withLockedValue { $0.append("refused \(context.descriptor.method)") }
      throw RPCError(code: .unauthenticated, message: "missing or bad token")
    }
    context.values["principal"] = "tester"
    do {
      try await next(context)
      log.outcomes.withLockedValue { $0.append("ok \(context.descriptor.method)") }
    } catch {
      log.outcomes.withLockedValue { $0.append("failed \(context.descriptor.method)") }
      throw error
    }
  }
}

/// A server on a free loopback port with the interop, health and probe services.
struct TestServer {
  let server: RPCServer
  let port: Int
  let log: ProbeLog

  static func start(
    port: Int = 0, configure: (inout RPCServer.Configuration) -> Void = { _ in }
  ) async throws -> TestServer {
    var configuration = RPCServer.Configuration(host: "127.0.0.1", port: port)
    configure(&configuration)
    let log = ProbeLog()
    let server = try RPCServer(
      configuration: configuration,
      services: [TestServiceImpl(), HealthService(), ProbeService(log: log)])
    let bound = try await server.start()
    return TestServer(server: server, port: bound, log: log)
  }

  func client(_ configure: (inout RPCClient.Configuration) -> Void = { _ in }) throws -> RPCClient {
    var c = RPCClient.Configuration(host: "127.0.0.1", port: port)
    configure(&c)
    return try RPCClient(configuration: c)
  }
}

/// Polls `condition` for up to `seconds` (a bound on waiting, not a timing assertion).
func eventually(_ seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
  let end = Date().addingTimeInterval(seconds)
  while Date() < end {
    if condition() { return true }
    try? await Task.sleep(for: .milliseconds(10))
  }
  return condition()
}

/// Makes a self-signed certificate for localhost/127.0.0.1 with the openssl command.
func makeCertificate() throws -> (cert: String, key: String) {
  let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tuoyu-tls-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  let cert = dir.appendingPathComponent("cert.pem").path
  let key = dir.appendingPathComponent("key.pem").path
  let p = Process()
  p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
  p.arguments = [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ]
  p.standardOutput = FileHandle.nullDevice
  p.standardError = FileHandle.nullDevice
  try p.run()
  p.waitUntilExit()
  guard p.terminationStatus == 0 else { throw RPCError(code: .internal, message: "openssl failed") }
  return (cert, key)
}
