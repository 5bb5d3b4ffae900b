import Foundation
import Interop
import NIOCore
import NIOPosix
import NIOSSL
import RPC
import RPCHealth
import Testing

/// Our client against our server over loopback.
@Suite struct TransportTests {
  @Test func everyInteropCaseOverH2C() async throws {
    let server = try await TestServer.start()
    let client = try server.client()
    for c in InteropCase.allCases {
      try await c.run(client)
    }
    await client.close()
    await server.server.shutdown()
  }

  @Test func everyInteropCaseOverTLS() async throws {
    let (cert, key) = try makeCertificate()
    let server = try await TestServer.start { config in
      config.tls = .makeServerConfiguration(
        certificateChain: try! NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
        privateKey: .privateKey(try! NIOSSLPrivateKey(file: key, format: .pem)))
    }
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .file(cert)
    let client = try server.client {
      $0.tls = tls
      $0.serverHostname = "localhost"
    }
    for c in InteropCase.allCases {
      try await c.run(client)
    }
    await client.close()

    // A client that does not trust the certificate cannot call.
    let untrusting = try server.client {
      $0.tls = .makeClientConfiguration()
      $0.serverHostname = "localhost"
    }
    await #expect(throws: RPCError.self) {
      _ = try await Grpc_Testing_TestService.Client(untrusting).emptyCall(Grpc_Testing_Empty())
    }
    await untrusting.close()
    await server.server.shutdown()
  }

  @Test func oneConnectionCarriesManyConcurrentCalls() async throws {
    let server = try await TestServer.start()
    let client = try server.client()
    let test = Grpc_Testing_TestService.Client(client)
    try await withThrowingTaskGroup(of: Int.self) { group in
      for i in 0..<200 {
        group.addTask {
          let r = try await test.unaryCall(.with { $0.responseSize = Int32(i) })
          return r.payload.body.count
        }
      }
      var sizes: [Int] = []
      for try await n in group { sizes.append(n) }
      #expect(sizes.sorted() == Array(0..<200))
    }
    await client.close()
    await server.server.shutdown()
  }

  @Test func clientCancellationReachesTheHandler() async throws {
    let server = try await TestServer.start()
    let client = try server.client()
    let task = Task {
      let _: UnaryResponse<Grpc_Testing_Empty> = try await client.unary(Probe.hang, request: Grpc_Testing_Empty())
    }
    #expect(await eventually { server.log.started.withLockedValue { $0 } == 1 })
    task.cancel()
    await #expect(throws: RPCError.self) { try await task.value }
    #expect(await eventually { server.log.cancelled.withLockedValue { $0 } == 1 })
    await client.close()
    await server.server.shutdown()
  }

  @Test func deadlineIsEnforcedOnBothSides() async throws {
    let server = try await TestServer.start()
    let client = try server.client()
    // Connected first, so that on a loaded machine the deadline is not spent before the request
    // reaches the server (which must then cancel the handler itself).
    _ = try await Grpc_Testing_TestService.Client(client).emptyCall(Grpc_Testing_Empty())
    do {
      let _: UnaryResponse<Grpc_Testing_Empty> = try await client.unary(
        Probe.hang, request: Grpc_Testing_Empty(), options: CallOptions(timeout: .milliseconds(300)))
      Issue.record("the call outlived its deadline")
    } catch let error as RPCError {
      #expect(error.code == .deadlineExceeded)
    }
    // The server cancelled the handler itself.
    #expect(await eventually { server.log.cancelled.withLockedValue { $0 } == 1 })
    await client.close()
    await server.server.shutdown()
  }

  @Test func maxReceiveSizeOnServerAndClient() async throws {
    let server = try await TestServer.start { $0.maxReceiveMessageSize = 1000 }
    let client = try server.client { $0.maxReceiveMessageSize = 2000 }
    let test = Grpc_Testing_TestService.Client(client)
    // Request over the server's limit.
    do {
      _ = try await test.unaryCall(.with { $0.payload.body = Data(count: 5000) })
      Issue.record("oversized request accepted")
    } catch let error as RPCError {
      #expect(error.code == .resourceExhausted, "\(error)")
    }
    // Response over the client's limit.
    do {
      _ = try await test.unaryCall(.with { $0.responseSize = 5000 })
      Issue.record("oversized response accepted")
    } catch let error as RPCError {
      #expect(error.code == .resourceExhausted)
    }
    // Within limits still works on the same client.
    let ok = try await test.unaryCall(.with { $0.responseSize = 100 })
    #expect(ok.payload.body.count == 100)
    await client.close()
    await server.server.shutdown()
  }

  @Test func interceptorsRefuseAndObserve() async throws {
    let log = ProbeLog()
    let server = try await TestServer.start { $0.interceptors = [AuthInterceptor(log: log)] }
    let client = try server.client()
    let test = Grpc_Testing_TestService.Client(client)
    do {
      _ = try await test.emptyCall(Grpc_Testing_Empty())
      Issue.record("call without token accepted")
    } catch let error as RPCError {
      #expect(error.code == .unauthenticated, "\(error)")
    }
    var md = Metadata()
    md.addString("Bearer good", forKey: "authorization")
    _ = try await test.emptyCall(Grpc_Testing_Empty(), metadata: md)
    do {
      _ = try await test.unimplementedCall(Grpc_Testing_Empty(), metadata: md)
    } catch let error as RPCError {
      #expect(error.code == .unimplemented)
    }
    #expect(log.outcomes.withLockedValue { $0 } == ["refused EmptyCall", "ok EmptyCall", "failed UnimplementedCall"])
    await client.close()
    await server.server.shutdown()
  }

  @Test func gracefulShutdownFinishesInFlightCallsAndRefusesNewOnes() async throws {
    let server = try await TestServer.start()
    let client = try server.client()
    let test = Grpc_Testing_TestService.Client(client)
    // A call in flight on the server: its first message has arrived, its second comes ~300 ms
    // later. (Waiting a fixed time instead let a loaded machine start the shutdown before the
    // call had even reached the server.)
    let (started, signal) = AsyncStream<Void>.makeStream()
    let inFlight = Task {
      let call = try await test.streamingOutputCall(
        .with {
          $0.responseParameters = [
            .with { $0.size = 10 },
            .with {
              $0.size = 10; $0.intervalUs = 300_000
            },
          ]
        })
      var n = 0
      while try await call.receive() != nil {
        n += 1
        if n == 1 { signal.yield() }
      }
      signal.finish()
      return n
    }
    for await _ in started { break }
    await server.server.shutdown(gracePeriod: .seconds(10))
    #expect(try await inFlight.value == 2)
    await #expect(throws: RPCError.self) { _ = try await test.emptyCall(Grpc_Testing_Empty()) }
    await client.close()
  }

  @Test func clientReconnectsWhenTheServerComesBack() async throws {
    let first = try await TestServer.start()
    let port = first.port
    let client = try first.client { $0.backoffInitial = .milliseconds(50) }
    let test = Grpc_Testing_TestService.Client(client)
    _ = try await test.emptyCall(Grpc_Testing_Empty())
    await first.server.shutdown()
    do {
      _ = try await test.emptyCall(Grpc_Testing_Empty())
      Issue.record("call succeeded with no server")
    } catch let error as RPCError {
      #expect(error.code == .unavailable)
    }
    let second = try await TestServer.start(port: port)
    let r = try await test.emptyCall(
      Grpc_Testing_Empty(), options: CallOptions(timeout: .seconds(10), waitForReady: true))
    #expect(r == Grpc_Testing_Empty())
    await client.close()
    await second.server.shutdown()
  }

  @Test func keepaliveDropsASilentPeer() async throws {
    // A TCP server that accepts and never says a word.
    let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .bind(host: "127.0.0.1", port: 0).get()
    let client = try RPCClient(
      configuration: {
        var c = RPCClient.Configuration(host: "127.0.0.1", port: silent.localAddress!.port!)
        c.keepaliveInterval = .milliseconds(100)
        c.keepaliveTimeout = .milliseconds(200)
        return c
      }())
    do {
      _ = try await Grpc_Testing_TestService.Client(client).emptyCall(Grpc_Testing_Empty())
      Issue.record("call to a silent peer succeeded")
    } catch let error as RPCError {
      #expect(error.code == .unavailable)
    }
    await client.close()
    try await silent.close()
  }

  @Test func errorCarriesMessageMetadataAndDetails() async throws {
    let server = try await TestServer.start()
    let client = try server.client()
    do {
      let _: UnaryResponse<Grpc_Testing_Empty> = try await client.unary(Probe.fail, request: Grpc_Testing_Empty())
      Issue.record("Fail succeeded")
    } catch let error as RPCError {
      #expect(error.code == .invalidArgument)
      #expect(error.message == "seats: must be 1…200 (规则 R-7)")
      #expect(error.metadata.first("x-rule") == "R-7")
      #expect(error.details == [0x08, 0x03, 0x12, 0x01, 0x78])
    }
    await client.close()
    await server.server.shutdown()
  }

  @Test func healthCheckAndWatch() async throws {
    let health = HealthService()
    let server = try RPCServer(configuration: .init(host: "127.0.0.1", port: 0), services: [health])
    let port = try await server.start()
    let client = try RPCClient(host: "127.0.0.1", port: port)
    let stub = Grpc_Health_V1_Health.Client(client)
    #expect(try await stub.check(.with { $0.service = "" }).status == .serving)
    health.setStatus(.serving, for: "tuoyu.Test")
    let watch = try await stub.watch(.with { $0.service = "tuoyu.Test" })
    #expect(try await watch.receive()?.status == .serving)
    health.setStatus(.notServing, for: "tuoyu.Test")
    #expect(try await watch.receive()?.status == .notServing)
    watch.cancel()
    #expect(try await stub.check(.with { $0.service = "tuoyu.Test" }).status == .notServing)
    await client.close()
    await server.shutdown()
  }
}

@Suite struct ClientMetadataTests {
  /// A value HTTP/2 cannot carry fails on the client, naming the key, before anything is sent.
  @Test(arguments: [
    ("authorization", "Bearer abc\n", "line break"),
    ("authorization", "Bearer a\u{0}b", "byte 0x0"),
    ("x-note", "名字", "printable ASCII"),
    ("x-note", " padded", "starts or ends with a space"),
    ("x note", "v", "the key holds byte 0x20"),
  ])
  func badMetadataIsALocalError(key: String, value: String, fragment: String) async throws {
    let server = try await TestServer.start()
    let client = try server.client()
    var metadata = Metadata()
    metadata.addString(value, forKey: key)
    do {
      let _: UnaryResponse<Grpc_Testing_Empty> = try await client.unary(
        Grpc_Testing_TestService.Method.emptyCall, request: Grpc_Testing_Empty(), metadata: metadata)
      Issue.record("sent \(key.debugDescription): \(value.debugDescription)")
    } catch let error as RPCError {
      #expect(error.code == .invalidArgument)
      #expect(error.message.contains(fragment) && error.message.contains("nothing was sent"), "\(error.message)")
    }
    // Binary metadata takes any bytes; the same client still works.
    var binary = Metadata()
    binary.addBinary([0, 10, 13, 255], forKey: "x-raw-bin")
    let _: UnaryResponse<Grpc_Testing_Empty> = try await client.unary(
      Grpc_Testing_TestService.Method.emptyCall, request: Grpc_Testing_Empty(), metadata: binary)
    await client.close()
    await server.server.shutdown()
  }
}
