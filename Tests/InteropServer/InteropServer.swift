import Foundation
import ArgumentParser
import Interop
import NIOSSL
import RPC
import RPCHealth

/// Serves `grpc.testing.TestService` and `grpc.health.v1.Health` for interop tests.
@main
struct InteropServer: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "tuoyu-interop-server")

  @Option(help: "Port to listen on (0 picks a free one; the bound port is printed).")
  var port: Int = 0

  @Option(help: "Address to listen on.")
  var host: String = "127.0.0.1"

  @Flag(name: .customLong("use_tls"), help: "Serve TLS (needs --cert and --key).")
  var useTLS = false

  @Option(help: "PEM certificate chain for TLS.") var cert: String?
  @Option(help: "PEM private key for TLS.") var key: String?
  @Option(help: "Client connections held at once (the server's limit).") var maxConnections: Int?

  func run() async throws {
    EventLoopThreads.fitSingletonToAffinity()
    var configuration = RPCServer.Configuration(host: host, port: port)
    if let maxConnections { configuration.maxConnections = maxConnections }
    if useTLS {
      guard let cert, let key else { throw ValidationError("--use_tls needs --cert and --key") }
      configuration.tls = .makeServerConfiguration(
        certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
        privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
    }
    let health = HealthService()
    health.setStatus(.serving, for: Grpc_Testing_TestService.serviceName)
    let server = try RPCServer(configuration: configuration, services: [TestServiceImpl(), health])
    let bound = try await server.start()
    print("listening on \(host):\(bound)")
    fflush(nil)
    await waitForTermination()
    await server.shutdown(gracePeriod: .seconds(5))
  }
}
