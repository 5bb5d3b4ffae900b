import Foundation
import JWTKit
import NIOConcurrencyHelpers
import RPC

/// An authenticated caller: the token's subject, department and roles.
public struct Principal: Sendable, Hashable {
  public var subject: String
  public var department: String
  public var roles: Set<String>
  /// The institution (credit code) a token is limited to: an employer's own staff, nothing else.
  public var institution: String?
  /// The region (a county's or the city's 6-digit code) an officer's token is limited to.
  public var region: String?

  public static let contextKey = "tuoyu.principal"

  public init(
    subject: String, department: String, roles: Set<String>, institution: String? = nil, region: String? = nil
  ) {
    self.subject = subject
    self.department = department
    self.roles = roles
    self.institution = institution
    self.region = region
  }

  public static func of(_ context: ServerContext) -> Principal? {
    context.values[contextKey] as? Principal
  }

  /// Who a call not yet (or never) authenticated is on the record as.
  public static let anonymous = Principal(subject: "anonymous", department: "none", roles: [])

  /// The caller as authentication left it in the context: the one identity handlers, audit and
  /// idempotency use (anonymous for public methods).
  public static func caller(_ context: ServerContext) -> Principal { of(context) ?? .anonymous }
}

/// The claims of a tuoyu bearer token (a JWT signed with the city's Ed25519 key).
public struct TokenClaims: JWTPayload, Equatable {
  public var sub: SubjectClaim
  public var exp: ExpirationClaim
  public var iat: IssuedAtClaim
  /// health, finance, hrss, or a service name for service tokens.
  public var dept: String
  public var roles: [String]
  /// The institution (unified social credit code) the token is limited to, if any.
  public var inst: String?
  /// The region (6-digit county or city code) the token is limited to, if any.
  public var region: String?

  public init(
    subject: String, department: String, roles: [String], lifetime: TimeInterval, now: Date = Date(),
    institution: String? = nil, region: String? = nil
  ) {
    self.sub = SubjectClaim(value: subject)
    self.exp = ExpirationClaim(value: now.addingTimeInterval(lifetime))
    self.iat = IssuedAtClaim(value: now)
    self.dept = department
    self.roles = roles
    self.inst = institution
    self.region = region
  }

  public func verify(using algorithm: some JWTAlgorithm) async throws {
    try exp.verifyNotExpired()
  }
}

/// Signs tokens (holders of the private key only: the `tuoyu-token` command, tests).
public struct TokenIssuer: Sendable {
  let keys: JWTKeyCollection

  public init(privateKeyPEM: String) async throws {
    keys = JWTKeyCollection()
    await keys.add(eddsa: try EdDSA.PrivateKey(pem: privateKeyPEM))
  }

  public func issue(_ claims: TokenClaims) async throws -> String {
    try await keys.sign(claims)
  }

  /// A new Ed25519 key pair as PEM (private, public).
  public static func makeKeyPair() throws -> (privateKey: String, publicKey: String) {
    let key = try EdDSA.PrivateKey(curve: .ed25519)
    return (key.pemRepresentation, key.publicKey.pemRepresentation)
  }
}

/// Verifies tokens with the city's public key (all services hold is the public key).
///
/// A token that verified is remembered until it expires, so a caller's later calls skip the
/// signature check (the cost that dominates a small call): same token string, same principal.
/// The cache is bounded; when full it starts over.
public struct TokenVerifier: Sendable {
  /// One collection per trusted key, in the file's order.
  let keys: [JWTKeyCollection]
  private let cache = NIOLockedValueBox([String: (principal: Principal, expires: Date)]())
  static let cacheLimit = 10_000
  /// More keys than a rotation needs is a mistake in the file, and each costs a verification.
  static let maxKeys = 4

  /// `publicKeyPEM` holds one or more PEM public keys: while the city rotates its signing key, the
  /// services trust the old and the new one, so tokens of either are accepted until the old ones
  /// have expired and the old key is removed.
  public init(publicKeyPEM: String) async throws {
    let blocks = publicKeyPEM.components(separatedBy: "-----BEGIN PUBLIC KEY-----").dropFirst()
      .map { "-----BEGIN PUBLIC KEY-----" + $0 }
    guard !blocks.isEmpty else { throw ConfigurationError("the token public key file holds no PEM public key") }
    guard blocks.count <= Self.maxKeys else {
      throw ConfigurationError("the token public key file holds \(blocks.count) keys; at most \(Self.maxKeys)")
    }
    var keys: [JWTKeyCollection] = []
    for block in blocks {
      let collection = JWTKeyCollection()
      await collection.add(eddsa: try EdDSA.PublicKey(pem: block))
      keys.append(collection)
    }
    self.keys = keys
  }

  public func verify(_ token: String, now: Date = Date()) async throws -> Principal {
    if let hit = cache.withLockedValue({ $0[token] }) {
      if hit.expires > now { return hit.principal }
      _ = cache.withLockedValue { $0.removeValue(forKey: token) }
    }
    let claims = try await verifiedClaims(token)
    let principal = Principal(
      subject: claims.sub.value, department: claims.dept, roles: Set(claims.roles), institution: claims.inst,
      region: claims.region)
    cache.withLockedValue {
      if $0.count >= Self.cacheLimit { $0.removeAll(keepingCapacity: true) }
      $0[token] = (principal, claims.exp.value)
    }
    return principal
  }

  /// The claims of a token signed by any trusted key, the newest (last in the file) tried first;
  /// the first key's error is what a token no key signed gets.
  private func verifiedClaims(_ token: String) async throws -> TokenClaims {
    for collection in keys.dropFirst().reversed() {
      do {
        return try await collection.verify(token, as: TokenClaims.self)
      } catch let error as JWTError where error.errorType == .claimVerificationFailure {
        throw error  // the signature was good, the claims not (expired): no other key does better
      } catch {
        continue
      }
    }
    return try await keys[0].verify(token, as: TokenClaims.self)
  }
}

/// The roles each method allows. A method not listed is refused to everyone: every RPC must
/// declare who may call it. Public methods (health checks) need no token at all.
public struct AccessPolicy: Sendable {
  public var allowed: [String: Set<String>]
  public var publicMethods: Set<String>

  public init(allowed: [String: Set<String>] = [:], publicMethods: Set<String> = AccessPolicy.healthMethods) {
    self.allowed = allowed
    self.publicMethods = publicMethods
  }

  /// Open to every caller: health (probes) and server reflection (the API's shape is public; its
  /// data is not).
  public static let healthMethods: Set<String> = [
    "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
  ]

  public mutating func allow(_ method: MethodDescriptor, roles: Set<String>) {
    allowed[method.path, default: []].formUnion(roles)
  }
}

/// Authenticates every call from `authorization: Bearer <jwt>` and authorizes it by the policy:
/// UNAUTHENTICATED without a valid token, PERMISSION_DENIED without an allowed role. The
/// handler never runs for a refused call.
public struct AuthInterceptor: ServerInterceptor {
  public let verifier: TokenVerifier
  public let policy: AccessPolicy

  public init(verifier: TokenVerifier, policy: AccessPolicy) {
    self.verifier = verifier
    self.policy = policy
  }

  public func intercept(context: ServerContext, next: (ServerContext) async throws -> Void) async throws {
    let method = context.descriptor.path
    if policy.publicMethods.contains(method) { return try await next(context) }
    guard let header = context.requestMetadata.first("authorization") else {
      throw RPCError(code: .unauthenticated, message: "missing bearer token (authorization: Bearer …)")
    }
    guard header.hasPrefix("Bearer "), !header.dropFirst(7).isEmpty else {
      throw RPCError(code: .unauthenticated, message: "authorization must be 'Bearer <token>'")
    }
    let principal: Principal
    do {
      principal = try await verifier.verify(String(header.dropFirst(7)))
    } catch let error as JWTError where error.errorType == .claimVerificationFailure {
      throw RPCError(code: .unauthenticated, message: "token expired or not yet valid")
    } catch {
      throw RPCError(code: .unauthenticated, message: "invalid token (bad signature or malformed)")
    }
    guard let roles = policy.allowed[method] else {
      throw RPCError(code: .permissionDenied, message: "\(method) declares no roles; nobody may call it")
    }
    guard !roles.isDisjoint(with: principal.roles) else {
      throw RPCError(
        code: .permissionDenied,
        message: "\(method) needs one of the roles \(roles.sorted().joined(separator: ", "))")
    }
    context.values[Principal.contextKey] = principal
    try await next(context)
  }
}

/// The roles every service knows, beside its own (`registry.officer`, …).
public enum Roles {
  /// Another service calling with its service token.
  public static let service = "service"
  /// Reads every audit trail and change feed.
  public static let auditor = "auditor"
  /// City and county leaders: read everything, change nothing.
  public static let leader = "leader"
  /// Who may read any service's resources.
  public static let crossServiceReaders: Set<String> = [service, auditor, leader]
}
