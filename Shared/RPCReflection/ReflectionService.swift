import Foundation
import RPC
import SwiftProtobuf

/// gRPC server reflection (`grpc.reflection.v1` and `v1alpha`, which share their messages): lists
/// the services and answers the descriptors of files and symbols, so that grpcurl, Postman and IDEs
/// can describe the API without the .proto files. Built from the descriptors the protoc plugin
/// embeds in each generated service.
public final class ReflectionService: Grpc_Reflection_V1_ServerReflection.ServiceProtocol {
  /// Serialized FileDescriptorProtos by file name, and each file's imports.
  let files: [String: (bytes: Data, imports: [String])]
  /// The file defining each fully qualified symbol (service, method, message, enum, field).
  let symbols: [String: String]
  /// The services listed (reflection's own included).
  public let serviceNames: [String]

  public static let v1alpha = MethodDescriptor(
    service: "grpc.reflection.v1alpha.ServerReflection", method: "ServerReflectionInfo", kind: .bidirectionalStreaming)

  /// Reflection over `services` (their embedded descriptors) and itself.
  public init(services: [any RPCService]) {
    var files: [String: (Data, [String])] = [:]
    var symbols: [String: String] = [:]
    var names: Set<String> = [Grpc_Reflection_V1_ServerReflection.serviceName, Self.v1alpha.service]
    // Each service's own file is the last of its descriptors (its imports come first).
    let own = Set(services.compactMap(\.reflectionFileDescriptors.last))
    for encoded in services.flatMap(\.reflectionFileDescriptors) + Grpc_Reflection_V1_ServerReflection.fileDescriptors {
      guard let bytes = Data(base64Encoded: encoded),
        let file = try? Google_Protobuf_FileDescriptorProto(serializedBytes: bytes), files[file.name] == nil
      else { continue }
      files[file.name] = (bytes, file.dependency)
      let prefix = file.package.isEmpty ? "" : file.package + "."
      func add(_ message: Google_Protobuf_DescriptorProto, _ scope: String) {
        let name = scope + message.name
        symbols[name] = file.name
        for f in message.field { symbols[name + "." + f.name] = file.name }
        for e in message.enumType { symbols[name + "." + e.name] = file.name }
        for nested in message.nestedType { add(nested, name + ".") }
      }
      file.messageType.forEach { add($0, prefix) }
      for e in file.enumType { symbols[prefix + e.name] = file.name }
      for s in file.service {
        symbols[prefix + s.name] = file.name
        for m in s.method { symbols[prefix + s.name + "." + m.name] = file.name }
        if own.contains(encoded) { names.insert(prefix + s.name) }
      }
    }
    self.files = files
    self.symbols = symbols
    self.serviceNames = names.sorted()
  }

  /// Also answers on the `v1alpha` path (the same messages on the wire).
  public func register(on router: inout RPCRouter) {
    router.registerBidirectionalStreaming(Grpc_Reflection_V1_ServerReflection.Method.serverReflectionInfo) {
      try await self.serverReflectionInfo(requests: $0, context: $1, responses: $2)
    }
    router.registerBidirectionalStreaming(
      Self.v1alpha, request: Grpc_Reflection_V1_ServerReflectionRequest.self,
      response: Grpc_Reflection_V1_ServerReflectionResponse.self
    ) { try await self.serverReflectionInfo(requests: $0, context: $1, responses: $2) }
  }

  public func serverReflectionInfo(
    requests: RequestStream<Grpc_Reflection_V1_ServerReflectionRequest>, context: ServerContext,
    responses: ResponseWriter<Grpc_Reflection_V1_ServerReflectionResponse>
  ) async throws {
    for try await request in requests {
      try await responses.write(answer(request))
    }
  }

  /// The answer to one request.
  public func answer(
    _ request: Grpc_Reflection_V1_ServerReflectionRequest
  ) -> Grpc_Reflection_V1_ServerReflectionResponse {
    var response = Grpc_Reflection_V1_ServerReflectionResponse()
    response.validHost = request.host
    response.originalRequest = request
    func notFound(_ what: String) {
      response.errorResponse = .with {
        $0.errorCode = Int32(Status.Code.notFound.rawValue)
        $0.errorMessage = what
      }
    }
    switch request.messageRequest {
    case .listServices:
      response.listServicesResponse = .with { $0.service = serviceNames.map { n in .with { $0.name = n } } }
    case .fileByFilename(let name):
      if let set = fileWithImports(name) {
        response.fileDescriptorResponse = .with { $0.fileDescriptorProto = set }
      } else {
        notFound("no file \(String(name.prefix(200)))")
      }
    case .fileContainingSymbol(let symbol):
      if let name = symbols[symbol], let set = fileWithImports(name) {
        response.fileDescriptorResponse = .with { $0.fileDescriptorProto = set }
      } else {
        notFound("no symbol \(String(symbol.prefix(200)))")
      }
    case .fileContainingExtension, .allExtensionNumbersOfType:
      notFound("no extensions of request or response types are served")
    case nil:
      response.errorResponse = .with {
        $0.errorCode = Int32(Status.Code.invalidArgument.rawValue)
        $0.errorMessage = "the request names nothing to reflect on"
      }
    }
    return response
  }

  /// The file and every file it imports, transitively (the file first).
  func fileWithImports(_ name: String) -> [Data]? {
    guard files[name] != nil else { return nil }
    var seen: Set<String> = []
    var out: [Data] = []
    var stack = [name]
    while let next = stack.popLast() {
      guard seen.insert(next).inserted, let f = files[next] else { continue }
      out.append(f.bytes)
      stack += f.imports
    }
    return out
  }
}
