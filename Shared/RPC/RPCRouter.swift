import SwiftProtobuf

/// Maps `/service/method` paths to typed handlers. Generated `register(on:)` methods fill it.
public struct RPCRouter: Sendable {
  struct Route: Sendable {
    let descriptor: MethodDescriptor
    let run: @Sendable (ServerCall, ServerContext) async throws -> Void
  }

  var routes: [String: Route] = [:]

  public init() {}

  /// The registered methods.
  public var methods: [MethodDescriptor] { routes.values.map(\.descriptor) }

  public mutating func registerUnary<Req: Message, Resp: Message>(
    _ descriptor: MethodDescriptor, request: Req.Type = Req.self, response: Resp.Type = Resp.self,
    _ handler: @escaping @Sendable (Req, ServerContext) async throws -> Resp
  ) {
    routes[descriptor.path] = Route(descriptor: descriptor) { call, context in
      let request = try Codec.decode(Req.self, from: try await call.singleRequest())
      let response = try await handler(request, context)
      try await call.send(Codec.frame(response), context: context)
    }
  }

  /// A unary method whose handler may answer with an encoding it already holds.
  public mutating func registerUnaryEncoded<Req: Message, Resp: Message>(
    _ descriptor: MethodDescriptor, request: Req.Type = Req.self, response: Resp.Type = Resp.self,
    _ handler: @escaping @Sendable (Req, ServerContext) async throws -> EncodedResponse<Resp>
  ) {
    routes[descriptor.path] = Route(descriptor: descriptor) { call, context in
      let request = try Codec.decode(Req.self, from: try await call.singleRequest())
      let response = try await handler(request, context)
      try await call.send(response.framed(), context: context)
    }
  }

  public mutating func registerServerStreaming<Req: Message, Resp: Message>(
    _ descriptor: MethodDescriptor, request: Req.Type = Req.self, response: Resp.Type = Resp.self,
    _ handler: @escaping @Sendable (Req, ServerContext, ResponseWriter<Resp>) async throws -> Void
  ) {
    routes[descriptor.path] = Route(descriptor: descriptor) { call, context in
      let request = try Codec.decode(Req.self, from: try await call.singleRequest())
      try await handler(request, context, ResponseWriter(call: call, context: context))
    }
  }

  public mutating func registerClientStreaming<Req: Message, Resp: Message>(
    _ descriptor: MethodDescriptor, request: Req.Type = Req.self, response: Resp.Type = Resp.self,
    _ handler: @escaping @Sendable (RequestStream<Req>, ServerContext) async throws -> Resp
  ) {
    routes[descriptor.path] = Route(descriptor: descriptor) { call, context in
      let response = try await handler(RequestStream(call: call), context)
      try await call.send(Codec.frame(response), context: context)
    }
  }

  public mutating func registerBidirectionalStreaming<Req: Message, Resp: Message>(
    _ descriptor: MethodDescriptor, request: Req.Type = Req.self, response: Resp.Type = Resp.self,
    _ handler:
      @escaping @Sendable (RequestStream<Req>, ServerContext, ResponseWriter<Resp>)
      async throws -> Void
  ) {
    routes[descriptor.path] = Route(descriptor: descriptor) { call, context in
      try await handler(
        RequestStream(call: call), context, ResponseWriter(call: call, context: context))
    }
  }
}

/// A service whose methods can be registered on a router (generated conformances).
public protocol RPCService: Sendable {
  func register(on router: inout RPCRouter)
  /// Its .proto file and the files that one imports, as base64 serialized FileDescriptorProtos
  /// (generated), for server reflection.
  var reflectionFileDescriptors: [String] { get }
}

extension RPCService {
  public var reflectionFileDescriptors: [String] { [] }
}
