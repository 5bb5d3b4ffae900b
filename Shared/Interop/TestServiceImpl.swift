import Foundation
import RPC

/// `grpc.testing.TestService` as grpc/grpc `doc/interop-test-descriptions.md` describes the
/// server: payloads of the requested sizes, echoed status and metadata.
public struct TestServiceImpl: Grpc_Testing_TestService.ServiceProtocol {
  public init() {}

  static let echoInitial = "x-grpc-test-echo-initial"
  static let echoTrailing = "x-grpc-test-echo-trailing-bin"

  static func echoMetadata(_ context: ServerContext) {
    for v in context.requestMetadata[stringValues: echoInitial] {
      context.initialMetadata.addString(v, forKey: echoInitial)
    }
    for v in context.requestMetadata[binaryValues: echoTrailing] {
      context.trailingMetadata.addBinary(v, forKey: echoTrailing)
    }
  }

  static func payload(_ size: Int32) throws -> Grpc_Testing_Payload {
    guard size >= 0 else { throw RPCError(code: .invalidArgument, message: "negative size \(size)") }
    return .with { $0.body = Data(count: Int(size)) }
  }

  /// The interop servers' check: a request that says it was sent compressed must have been.
  static func checkCompressed(_ expected: Bool, _ context: ServerContext) throws {
    if expected && !context.lastRequestCompressed {
      throw RPCError(code: .invalidArgument, message: "expected a compressed request")
    }
  }

  static func check(_ status: Grpc_Testing_EchoStatus?) throws {
    guard let status, status.code != 0 else { return }
    throw RPCError(code: Status.Code(wireValue: Int(status.code)), message: status.message)
  }

  public func emptyCall(
    request: Grpc_Testing_Empty, context: ServerContext
  ) async throws
    -> Grpc_Testing_Empty
  {
    Self.echoMetadata(context)
    return Grpc_Testing_Empty()
  }

  public func unaryCall(
    request: Grpc_Testing_SimpleRequest, context: ServerContext
  ) async throws
    -> Grpc_Testing_SimpleResponse
  {
    Self.echoMetadata(context)
    try Self.check(request.hasResponseStatus ? request.responseStatus : nil)
    try Self.checkCompressed(request.hasExpectCompressed && request.expectCompressed.value, context)
    context.compressResponses = request.responseCompressed.value
    let payload = try Self.payload(request.responseSize)
    return .with { $0.payload = payload }
  }

  public func cacheableUnaryCall(
    request: Grpc_Testing_SimpleRequest, context: ServerContext
  )
    async throws -> Grpc_Testing_SimpleResponse
  {
    try await unaryCall(request: request, context: context)
  }

  public func streamingOutputCall(
    request: Grpc_Testing_StreamingOutputCallRequest, context: ServerContext,
    responses: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>
  ) async throws {
    Self.echoMetadata(context)
    try await respond(to: request, responses)
  }

  public func streamingInputCall(
    requests: RequestStream<Grpc_Testing_StreamingInputCallRequest>, context: ServerContext
  ) async throws -> Grpc_Testing_StreamingInputCallResponse {
    Self.echoMetadata(context)
    var total = 0
    for try await request in requests {
      try Self.checkCompressed(request.hasExpectCompressed && request.expectCompressed.value, context)
      total += request.payload.body.count
    }
    let size = Int32(total)
    return .with { $0.aggregatedPayloadSize = size }
  }

  public func fullDuplexCall(
    requests: RequestStream<Grpc_Testing_StreamingOutputCallRequest>, context: ServerContext,
    responses: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>
  ) async throws {
    Self.echoMetadata(context)
    for try await request in requests {
      try await respond(to: request, responses)
    }
  }

  public func halfDuplexCall(
    requests: RequestStream<Grpc_Testing_StreamingOutputCallRequest>, context: ServerContext,
    responses: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>
  ) async throws {
    Self.echoMetadata(context)
    var all: [Grpc_Testing_StreamingOutputCallRequest] = []
    for try await request in requests { all.append(request) }
    for request in all { try await respond(to: request, responses) }
  }

  public func unimplementedCall(
    request: Grpc_Testing_Empty, context: ServerContext
  ) async throws
    -> Grpc_Testing_Empty
  {
    throw RPCError(code: .unimplemented, message: "UnimplementedCall is not implemented")
  }

  private func respond(
    to request: Grpc_Testing_StreamingOutputCallRequest,
    _ responses: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>
  ) async throws {
    try Self.check(request.hasResponseStatus ? request.responseStatus : nil)
    for p in request.responseParameters {
      if p.intervalUs > 0 { try await Task.sleep(nanoseconds: UInt64(p.intervalUs) * 1000) }
      let payload = try Self.payload(p.size)
      responses.context.compressResponses = p.compressed.value
      try await responses.write(.with { $0.payload = payload })
    }
  }
}
