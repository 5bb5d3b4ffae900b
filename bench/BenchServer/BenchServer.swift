import Foundation
import ArgumentParser
import RPC

/// The benchmark's unary echo: the answer echoes id and name with 256 payload bytes.
struct BenchService: Bench_Bench.ServiceProtocol {
  static let payload = Data(repeating: 0x5a, count: 256)

  func get(request: Bench_Req, context: ServerContext) async throws -> Bench_Resp {
    var response = Bench_Resp()
    response.id = request.id
    response.name = request.name
    response.payload = Self.payload
    return response
  }
}

@main
struct BenchServer: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "tuoyu-bench-server")

  @Option(help: "Port to listen on.") var port: Int = 50051
  @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
  @Option(help: "Microseconds each event loop's CPU is kept from halting after a read (0: off; default: the server's).")
  var idleSpinUs: Int?
  @Flag(help: "Serve ready connections in the order epoll reports them, not about the order their requests arrived.")
  var epollOrder = false

  func run() async throws {
    EventLoopThreads.fitSingletonToAffinity()
    var configuration = RPCServer.Configuration(host: host, port: port)
    configuration.http2.maxConcurrentStreams = 256
    if let idleSpinUs {
      guard (0...IdleSpin.maxWindowMicroseconds).contains(idleSpinUs) else {
        throw ValidationError("--idle-spin-us must be 0–\(IdleSpin.maxWindowMicroseconds)")
      }
      configuration.idleSpin = .microseconds(idleSpinUs)
    }
    configuration.servesInArrivalOrder = !epollOrder
    let server = try RPCServer(configuration: configuration, services: [BenchService()])
    let bound = try await server.start()
    print("listening on \(host):\(bound)")
    fflush(nil)
    await waitForTermination()
    await server.shutdown(gracePeriod: .seconds(2))
  }
}
