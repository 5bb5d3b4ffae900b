import Foundation
import JWTKit
import NIOConcurrencyHelpers
import RPC
import ServiceKit
import Testing

/// A method behind the auth interceptor that counts how often its handler ran.
struct CountingService: RPCService {
  static let create = MethodDescriptor(service: "tuoyu.test.v1.Things", method: "Create", kind: .unary)
  static let undeclared = MethodDescriptor(service: "tuoyu.test.v1.Things", method: "Undeclared", kind: .unary)
  let runs = NIOLockedValueBox(0)

  func register(on router: inout RPCRouter) {
    let runs = self.runs
    for method in [Self.create, Self.undeclared] {
      router.registerUnary(method) { (_: Req, context: ServerContext) -> Resp in
        runs.withLockedValue { $0 += 1 }
        return Resp.with { $0.subject = Principal.of(context)?.subject ?? "" }
      }
    }
  }
}

@Suite struct AuthTests {
  struct Fixture {
    let server: RPCServer
    let client: RPCClient
    let service: CountingService
    let issuer: TokenIssuer

    func call(_ method: MethodDescriptor = CountingService.create, token: String?) async throws -> Resp {
      var md = Metadata()
      if let token { md.addString("Bearer \(token)", forKey: "authorization") }
      let r: UnaryResponse<Resp> = try await client.unary(method, request: Req(), metadata: md)
      return r.message
    }

    func token(roles: [String], lifetime: TimeInterval = 600) async throws -> String {
      try await issuer.issue(TokenClaims(subject: "alice", department: "health", roles: roles, lifetime: lifetime))
    }

    func stop() async {
      await client.close()
      await server.shutdown()
    }
  }

  func start() async throws -> Fixture {
    let (priv, pub) = try TokenIssuer.makeKeyPair()
    var policy = AccessPolicy()
    policy.allow(CountingService.create, roles: ["registry.officer"])
    let service = CountingService()
    var config = RPCServer.Configuration(host: "127.0.0.1", port: 0)
    config.interceptors = [AuthInterceptor(verifier: try await TokenVerifier(publicKeyPEM: pub), policy: policy)]
    let server = try RPCServer(configuration: config, services: [service])
    let port = try await server.start()
    return Fixture(
      server: server, client: try RPCClient(host: "127.0.0.1", port: port), service: service,
      issuer: try await TokenIssuer(privateKeyPEM: priv))
  }

  func expectRefused(_ code: Status.Code, _ f: Fixture, _ body: () async throws -> Resp) async {
    do {
      _ = try await body()
      Issue.record("call was accepted")
    } catch let e as RPCError {
      #expect(e.code == code, "\(e)")
    } catch {
      Issue.record("unexpected \(error)")
    }
  }

  @Test func tokensAndRolesDecide() async throws {
    let f = try await start()
    // The right role passes, and the handler sees the principal.
    let ok = try await f.call(token: try await f.token(roles: ["registry.officer"]))
    #expect(ok.subject == "alice")
    #expect(f.service.runs.withLockedValue { $0 } == 1)

    await expectRefused(.unauthenticated, f) { try await f.call(token: nil) }
    await expectRefused(.unauthenticated, f) { try await f.call(token: "not.a.jwt") }
    await expectRefused(.unauthenticated, f) {
      try await f.call(token: try await f.token(roles: ["registry.officer"], lifetime: -60))
    }
    // Signed by another key.
    let (otherKey, _) = try TokenIssuer.makeKeyPair()
    let forged = try await TokenIssuer(privateKeyPEM: otherKey).issue(
      TokenClaims(subject: "mallory", department: "health", roles: ["registry.officer"], lifetime: 600))
    await expectRefused(.unauthenticated, f) { try await f.call(token: forged) }
    // Valid token, wrong role; and a method that declares no roles.
    await expectRefused(.permissionDenied, f) { try await f.call(token: try await f.token(roles: ["auditor"])) }
    await expectRefused(.permissionDenied, f) {
      try await f.call(CountingService.undeclared, token: try await f.token(roles: ["registry.officer"]))
    }
    // None of the refused calls reached the handler.
    #expect(f.service.runs.withLockedValue { $0 } == 1)
    await f.stop()
  }

  /// Rotating the signing key: while the file holds the old and the new public key, tokens of
  /// either pass; an expired one says so under either; a third key's are refused; and a file with
  /// no key or too many is a configuration error.
  @Test func bothKeysOfARotationAreTrusted() async throws {
    let (oldPriv, oldPub) = try TokenIssuer.makeKeyPair()
    let (newPriv, newPub) = try TokenIssuer.makeKeyPair()
    let (otherPriv, otherPub) = try TokenIssuer.makeKeyPair()
    let verifier = try await TokenVerifier(publicKeyPEM: oldPub + "\n" + newPub)
    func token(_ key: String, lifetime: TimeInterval = 600, subject: String = "alice") async throws -> String {
      try await TokenIssuer(privateKeyPEM: key).issue(
        TokenClaims(subject: subject, department: "health", roles: ["auditor"], lifetime: lifetime))
    }
    #expect(try await verifier.verify(try await token(oldPriv, subject: "old")).subject == "old")
    #expect(try await verifier.verify(try await token(newPriv, subject: "new")).subject == "new")
    for key in [oldPriv, newPriv] {
      do {
        _ = try await verifier.verify(try await token(key, lifetime: -60))
        Issue.record("an expired token passed")
      } catch let error as JWTError {
        #expect(error.errorType == .claimVerificationFailure)
      }
    }
    await #expect(throws: (any Error).self) { try await verifier.verify(try await token(otherPriv)) }
    // Once the old key is removed, its tokens are refused.
    let rotated = try await TokenVerifier(publicKeyPEM: newPub)
    await #expect(throws: (any Error).self) { try await rotated.verify(try await token(oldPriv)) }
    await #expect(throws: ConfigurationError.self) { try await TokenVerifier(publicKeyPEM: "no key here") }
    await #expect(throws: ConfigurationError.self) {
      try await TokenVerifier(publicKeyPEM: [oldPub, newPub, otherPub, oldPub, newPub].joined(separator: "\n"))
    }
  }
}
