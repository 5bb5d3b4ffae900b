import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf

/// bench.Bench/Get on grpc-swift-2: echoes id and name with 256 payload bytes.
struct BenchService: RegistrableRPCService {
  static let payload = Data(repeating: 0x5a, count: 256)

  func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    router.registerHandler(
      forMethod: MethodDescriptor(fullyQualifiedService: "bench.Bench", method: "Get"),
      deserializer: ProtobufDeserializer<Bench_Req>(),
      serializer: ProtobufSerializer<Bench_Resp>()
    ) { request, context in
      var iterator = request.messages.makeAsyncIterator()
      guard let req = try await iterator.next() else {
        throw RPCError(code: .internalError, message: "no request")
      }
      var resp = Bench_Resp()
      resp.id = req.id
      resp.name = req.name
      resp.payload = Self.payload
      return StreamingServerResponse(single: ServerResponse(message: resp))
    }
  }
}

var port = 50053
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
  if a == "--port", let v = args.popFirst(), let p = Int(v) { port = p }
}
let server = GRPCServer(
  transport: .http2NIOPosix(
    address: .ipv4(host: "127.0.0.1", port: port), transportSecurity: .plaintext),
  services: [BenchService()])
print("listening on 127.0.0.1:\(port)")
fflush(nil)
try await server.serve()
