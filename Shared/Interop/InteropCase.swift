import Foundation
import RPC

/// The interop client cases of grpc/grpc `doc/interop-test-descriptions.md` that tuoyu runs.
public enum InteropCase: String, CaseIterable, Sendable {
  case emptyUnary = "empty_unary"
  case largeUnary = "large_unary"
  case clientStreaming = "client_streaming"
  case serverStreaming = "server_streaming"
  case pingPong = "ping_pong"
  case emptyStream = "empty_stream"
  case cancelAfterBegin = "cancel_after_begin"
  case cancelAfterFirstResponse = "cancel_after_first_response"
  case timeoutOnSleepingServer = "timeout_on_sleeping_server"
  case customMetadata = "custom_metadata"
  case statusCodeAndMessage = "status_code_and_message"
  case specialStatusMessage = "special_status_message"
  case unimplementedMethod = "unimplemented_method"
  case unimplementedService = "unimplemented_service"
  case clientCompressedUnary = "client_compressed_unary"
  case serverCompressedUnary = "server_compressed_unary"
  case clientCompressedStreaming = "client_compressed_streaming"
  case serverCompressedStreaming = "server_compressed_streaming"
}

/// A case's expectation that did not hold.
public struct InteropFailure: Error, CustomStringConvertible {
  public let description: String
  init(_ description: String) { self.description = description }
}

func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
  if !condition { throw InteropFailure(message()) }
}

func zeros(_ n: Int) -> Grpc_Testing_Payload { .with { $0.body = Data(count: n) } }

extension InteropCase {
  /// Runs the case against the server behind `client`; throws `InteropFailure` when it fails.
  public func run(_ client: RPCClient) async throws {
    let test = Grpc_Testing_TestService.Client(client)
    switch self {
    case .emptyUnary:
      let response = try await test.emptyCall(Grpc_Testing_Empty())
      try expect(response == Grpc_Testing_Empty(), "empty_unary: non-empty response")

    case .largeUnary:
      let response = try await test.unaryCall(
        .with {
          $0.responseSize = 314_159
          $0.payload = zeros(271_828)
        })
      try expect(response.payload.body == Data(count: 314_159), "large_unary: wrong payload")

    case .clientStreaming:
      let call = try await test.streamingInputCall()
      for size in [27_182, 8, 1_828, 45_904] {
        try await call.send(.with { $0.payload = zeros(size) })
      }
      try await call.end()
      let response = try await call.receive()
      try expect(response?.aggregatedPayloadSize == 74_922, "client_streaming: got \(String(describing: response))")
      try expect(await call.error() == nil, "client_streaming: status not OK")

    case .serverStreaming:
      let sizes = [31_415, 9, 2_653, 58_979]
      let call = try await test.streamingOutputCall(
        .with {
          $0.responseParameters = sizes.map { s in .with { $0.size = Int32(s) } }
        })
      var got: [Int] = []
      while let r = try await call.receive() { got.append(r.payload.body.count) }
      try expect(got == sizes, "server_streaming: sizes \(got)")

    case .pingPong:
      let call = try await test.fullDuplexCall()
      for (responseSize, payloadSize) in [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)] {
        try await call.send(
          .with {
            $0.responseParameters = [.with { $0.size = Int32(responseSize) }]
            $0.payload = zeros(payloadSize)
          })
        let r = try await call.receive()
        try expect(r?.payload.body.count == responseSize, "ping_pong: wanted \(responseSize)")
      }
      try await call.end()
      try expect(try await call.receive() == nil, "ping_pong: extra response")
      try expect(await call.error() == nil, "ping_pong: status not OK")

    case .emptyStream:
      let call = try await test.fullDuplexCall()
      try await call.end()
      try expect(try await call.receive() == nil, "empty_stream: got a response")
      try expect(await call.error() == nil, "empty_stream: status not OK")

    case .cancelAfterBegin:
      let call = try await test.streamingInputCall()
      call.cancel()
      let status = await call.status()
      try expect(status.code == .cancelled, "cancel_after_begin: \(status)")

    case .cancelAfterFirstResponse:
      let call = try await test.fullDuplexCall()
      try await call.send(
        .with {
          $0.responseParameters = [.with { $0.size = 31_415 }]
          $0.payload = zeros(27_182)
        })
      let r = try await call.receive()
      try expect(r?.payload.body.count == 31_415, "cancel_after_first_response: first response")
      call.cancel()
      let status = await call.status()
      try expect(status.code == .cancelled, "cancel_after_first_response: \(status)")

    case .timeoutOnSleepingServer:
      let call = try await test.fullDuplexCall(options: CallOptions(timeout: .milliseconds(1)))
      try? await call.send(.with { $0.payload = zeros(27_182) })
      let status = await call.status()
      try expect(status.code == .deadlineExceeded, "timeout_on_sleeping_server: \(status)")

    case .customMetadata:
      var metadata = Metadata()
      metadata.addString("test_initial_metadata_value", forKey: "x-grpc-test-echo-initial")
      metadata.addBinary([0xab, 0xab, 0xab], forKey: "x-grpc-test-echo-trailing-bin")
      let unary: UnaryResponse<Grpc_Testing_SimpleResponse> = try await client.unary(
        Grpc_Testing_TestService.Method.unaryCall,
        request: Grpc_Testing_SimpleRequest.with {
          $0.responseSize = 314_159
          $0.payload = zeros(271_828)
        }, metadata: metadata)
      try expect(
        unary.initialMetadata.first("x-grpc-test-echo-initial") == "test_initial_metadata_value",
        "custom_metadata: unary initial \(unary.initialMetadata)")
      try expect(
        unary.trailingMetadata[binaryValues: "x-grpc-test-echo-trailing-bin"] == [[0xab, 0xab, 0xab]],
        "custom_metadata: unary trailing \(unary.trailingMetadata)")
      let call = try await test.fullDuplexCall(metadata: metadata)
      try await call.send(
        .with {
          $0.responseParameters = [.with { $0.size = 314_159 }]
          $0.payload = zeros(271_828)
        })
      try await call.end()
      while try await call.receive() != nil {}
      let initial = try await call.initialMetadata()
      let trailing = await call.trailingMetadata()
      try expect(
        initial.first("x-grpc-test-echo-initial") == "test_initial_metadata_value",
        "custom_metadata: stream initial \(initial)")
      try expect(
        trailing[binaryValues: "x-grpc-test-echo-trailing-bin"] == [[0xab, 0xab, 0xab]],
        "custom_metadata: stream trailing \(trailing)")

    case .statusCodeAndMessage, .specialStatusMessage:
      let message =
        self == .statusCodeAndMessage
        ? "test status message"
        : "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"
      let status = Grpc_Testing_EchoStatus.with {
        $0.code = 2
        $0.message = message
      }
      do {
        _ = try await test.unaryCall(.with { $0.responseStatus = status })
        throw InteropFailure("\(rawValue): unary call succeeded")
      } catch let error as RPCError {
        try expect(error.code == .unknown && error.message == message, "\(rawValue): unary \(error)")
      }
      if self == .statusCodeAndMessage {
        let call = try await test.fullDuplexCall()
        try await call.send(.with { $0.responseStatus = status })
        try await call.end()
        let s = await call.status()
        try expect(s.code == .unknown && s.message == message, "\(rawValue): stream \(s)")
      }

    case .unimplementedMethod:
      do {
        _ = try await test.unimplementedCall(Grpc_Testing_Empty())
        throw InteropFailure("unimplemented_method: succeeded")
      } catch let error as RPCError {
        try expect(error.code == .unimplemented, "unimplemented_method: \(error)")
      }

    case .unimplementedService:
      do {
        _ = try await Grpc_Testing_UnimplementedService.Client(client).unimplementedCall(Grpc_Testing_Empty())
        throw InteropFailure("unimplemented_service: succeeded")
      } catch let error as RPCError {
        try expect(error.code == .unimplemented, "unimplemented_service: \(error)")
      }

    case .clientCompressedUnary:
      func request(_ expectCompressed: Bool) -> Grpc_Testing_SimpleRequest {
        .with {
          $0.expectCompressed = .with { $0.value = expectCompressed }
          $0.responseSize = 314_159
          $0.payload = zeros(271_828)
        }
      }
      // 1. The feature probe: uncompressed but said to be compressed. A server that checks says
      //    INVALID_ARGUMENT; one that cannot look (grpcio in Python) answers, and the probe is
      //    skipped.
      do {
        _ = try await test.unaryCall(request(true))
        print("note: the server does not check expect_compressed; probe skipped")
      } catch let error as RPCError {
        try expect(error.code == .invalidArgument, "client_compressed_unary: probe got \(error)")
      }
      // 2. Compressed, 3. uncompressed.
      let compressed = try await test.unaryCall(request(true), options: CallOptions(compression: .gzip))
      try expect(compressed.payload.body.count == 314_159, "client_compressed_unary: compressed call")
      let plain = try await test.unaryCall(request(false))
      try expect(plain.payload.body.count == 314_159, "client_compressed_unary: uncompressed call")

    case .serverCompressedUnary:
      for compressed in [true, false] {
        let call = try await client.makeCall(
          Grpc_Testing_TestService.Method.unaryCall, request: Grpc_Testing_SimpleRequest.self,
          response: Grpc_Testing_SimpleResponse.self)
        try await call.send(
          .with {
            $0.responseCompressed = .with { $0.value = compressed }
            $0.responseSize = 314_159
            $0.payload = zeros(271_828)
          })
        try await call.end()
        let response = try await call.receive()
        try expect(response?.payload.body.count == 314_159, "server_compressed_unary: payload")
        try expect(
          call.lastResponseCompressed == compressed,
          "server_compressed_unary: response compressed \(call.lastResponseCompressed), wanted \(compressed)")
        try expect(await call.error() == nil, "server_compressed_unary: status")
      }

    case .clientCompressedStreaming:
      // 1. The probe: a first message said to be compressed, sent uncompressed.
      let probe = try await test.streamingInputCall()
      try await probe.send(
        .with {
          $0.expectCompressed = .with { $0.value = true }
          $0.payload = zeros(27_182)
        })
      try await probe.end()
      _ = try? await probe.receive()
      if let error = await probe.error() {
        try expect(error.code == .invalidArgument, "client_compressed_streaming: probe got \(error)")
      } else {
        print("note: the server does not check expect_compressed; probe skipped")
      }
      // 2. Compressed, then uncompressed, on one stream.
      let call = try await test.streamingInputCall(options: CallOptions(compression: .gzip))
      try await call.send(
        .with {
          $0.expectCompressed = .with { $0.value = true }
          $0.payload = zeros(27_182)
        })
      try await call.send(
        .with {
          $0.expectCompressed = .with { $0.value = false }
          $0.payload = zeros(45_904)
        }, compressed: false)
      try await call.end()
      let response = try await call.receive()
      try expect(
        response?.aggregatedPayloadSize == 73_086, "client_compressed_streaming: got \(String(describing: response))")
      try expect(await call.error() == nil, "client_compressed_streaming: status")

    case .serverCompressedStreaming:
      let call = try await test.streamingOutputCall(
        .with {
          $0.responseParameters = [
            .with {
              $0.compressed = .with { $0.value = true }
              $0.size = 31_415
            },
            .with {
              $0.compressed = .with { $0.value = false }
              $0.size = 92_653
            },
          ]
        })
      var got: [(Int, Bool)] = []
      while let r = try await call.receive() { got.append((r.payload.body.count, call.lastResponseCompressed)) }
      try expect(
        got.map(\.0) == [31_415, 92_653] && got.map(\.1) == [true, false],
        "server_compressed_streaming: got \(got)")
    }
  }
}
