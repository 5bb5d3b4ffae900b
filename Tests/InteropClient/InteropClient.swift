import ArgumentParser
import Interop
import NIOSSL
import RPC

/// Runs grpc interop test cases against a server.
@main
struct InteropClient: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "tuoyu-interop-client")

  @Option(name: .customLong("server_host")) var serverHost = "127.0.0.1"
  @Option(name: .customLong("server_port")) var serverPort: Int
  @Option(name: .customLong("test_case"), help: "A case name, or 'all'.") var testCase: String
  @Flag(name: .customLong("use_tls")) var useTLS = false
  @Option(name: .customLong("ca_file"), help: "PEM CA to trust with --use_tls.") var caFile: String?
  @Option(name: .customLong("server_host_override")) var hostOverride: String?

  func run() async throws {
    let cases: [InteropCase]
    if testCase == "all" {
      cases = InteropCase.allCases
    } else {
      guard let c = InteropCase(rawValue: testCase) else {
        throw ValidationError(
          "unknown test case \(testCase); known: \(InteropCase.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      cases = [c]
    }
    var configuration = RPCClient.Configuration(host: serverHost, port: serverPort)
    if useTLS {
      var tls = TLSConfiguration.makeClientConfiguration()
      if let caFile { tls.trustRoots = .file(caFile) }
      configuration.tls = tls
      configuration.serverHostname = hostOverride
    }
    let client = try RPCClient(configuration: configuration)
    var failed = 0
    for c in cases {
      do {
        try await c.run(client)
        print("PASS \(c.rawValue)")
      } catch {
        failed += 1
        print("FAIL \(c.rawValue): \(error)")
      }
    }
    await client.close()
    if failed > 0 { throw ExitCode(1) }
  }
}
