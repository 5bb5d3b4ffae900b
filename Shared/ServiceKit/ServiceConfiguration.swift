import H2
import NIOCore
import Logging
import Foundation
import NIOSSL
import RPC

/// What every service executable reads at start, from flags (`--listen 127.0.0.1:50061`) or the
/// environment (`TUOYU_LISTEN`); flags win.
public struct ServiceConfiguration: Sendable {
  /// Host and port to serve gRPC on.
  public var host: String
  public var port: Int
  /// libpq URL of the service's own database role.
  public var databaseURL: String
  /// PEM files for TLS; both nil serves h2c.
  public var tlsCertificate: String?
  public var tlsKey: String?
  /// How often the database is probed for the health status.
  public var healthInterval: Duration
  public var maxConnections: Int
  /// PEM file of the city's token-signing public key.
  public var tokenPublicKey: String?
  /// Where Prometheus scrapes `GET /metrics`; port nil turns the endpoint off (`--metrics-listen off`).
  public var metricsHost: String
  public var metricsPort: Int?
  /// How long in-flight calls may take to finish after SIGTERM.
  public var shutdownGrace: Duration = .seconds(10)
  /// This service's own token for calling other services (`--service-token-file`).
  public var serviceToken: String?
  /// Other services' addresses by name, from `--peer-NAME HOST:PORT` (`TUOYU_PEER_NAME`).
  public var peers: [String: (host: String, port: Int)] = [:]
  /// A CA certificate (PEM, `--tls-ca`): peers are then called over TLS, their certificates
  /// verified against it for the peer's host name; nil calls peers over h2c.
  public var tlsCA: String?
  /// A second, plaintext listener serving only the gRPC health service (`--health-listen`), for
  /// probes that cannot speak TLS (Kubernetes' native gRPC probes, the container's health check).
  public var healthHost: String?
  public var healthPort: Int?
  /// The personal-data vault's key file (`--vault-key-file`, see `PersonalDataVault`), for the
  /// services that keep ID numbers.
  public var vaultKeyFile: String?
  /// The lowest level logged (--log-level trace|debug|info|notice|warning|error|critical); debug
  /// adds an access line per call.
  public var logLevel: Logger.Level = .info
  /// The gRPC server's HTTP/2 limits (keepalive enforcement, idle, age, header timeout,
  /// concurrent streams) and how many client connections it holds at once.
  public var http2 = H2Settings()
  public var maxClientConnections: Int? = 4096
  /// How long each event loop's CPU is kept from halting after a read (`--idle-spin-us`, see
  /// `IdleSpin`): 100 µs unless the process runs under a CPU quota; nil: off.
  public var idleSpin: Duration? = IdleSpin.defaultWindow

  public init(
    host: String = "127.0.0.1", port: Int = 0, databaseURL: String, tlsCertificate: String? = nil,
    tlsKey: String? = nil, healthInterval: Duration = .seconds(2), maxConnections: Int = 10
  ) {
    self.host = host
    self.port = port
    self.databaseURL = databaseURL
    self.tlsCertificate = tlsCertificate
    self.tlsKey = tlsKey
    self.healthInterval = healthInterval
    self.maxConnections = maxConnections
    self.metricsHost = host
    self.metricsPort = 0
  }

  /// A client for the peer service `name` that presents this service's token on every call.
  public func peerClient(_ name: String) throws -> RPCClient {
    guard let peer = peers[name] else {
      throw ConfigurationError("no address for service \(name): pass --peer-\(name) HOST:PORT")
    }
    var configuration = RPCClient.Configuration(host: peer.host, port: peer.port)
    if let tlsCA {
      var tls = TLSConfiguration.makeClientConfiguration()
      do {
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(tlsCA))
      } catch {
        throw ConfigurationError("--tls-ca \(tlsCA) cannot be read as PEM certificates: \(error)")
      }
      configuration.tls = tls
    }
    if let serviceToken { configuration.defaultMetadata.addString("Bearer \(serviceToken)", forKey: "authorization") }
    return try RPCClient(configuration: configuration)
  }

  /// Splits `HOST:PORT` (IPv6 hosts in brackets).
  static func address(_ value: String, flag: String) throws -> (host: String, port: Int) {
    guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]),
      (0...65535).contains(port), colon > value.startIndex
    else { throw ConfigurationError("--\(flag) must be HOST:PORT, got \(value)") }
    return (String(value[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
  }

  /// Reads the configuration; throws a message naming the missing or bad setting.
  public static func load(
    arguments: [String] = Array(CommandLine.arguments.dropFirst()),
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws -> ServiceConfiguration {
    var values: [String: String] = [:]
    for (key, value) in environment where key.hasPrefix("TUOYU_") {
      values[key.dropFirst(6).lowercased().replacingOccurrences(of: "_", with: "-")] = value
    }
    var flags: [String] = []
    var i = 0
    while i < arguments.count {
      let arg = arguments[i]
      guard arg.hasPrefix("--") else { throw ConfigurationError("unexpected argument \(arg)") }
      let body = arg.dropFirst(2)
      if let eq = body.firstIndex(of: "=") {
        values[String(body[..<eq])] = String(body[body.index(after: eq)...])
        flags.append(String(body[..<eq]))
        i += 1
      } else {
        guard i + 1 < arguments.count else { throw ConfigurationError("\(arg) needs a value") }
        values[String(body)] = arguments[i + 1]
        flags.append(String(body))
        i += 2
      }
    }
    let (host, port) = try address(values["listen"] ?? "127.0.0.1:0", flag: "listen")
    guard let url = values["database-url"] else {
      throw ConfigurationError("--database-url (or TUOYU_DATABASE_URL) is required")
    }
    var c = ServiceConfiguration(
      host: host, port: port, databaseURL: url, tlsCertificate: values["tls-cert"], tlsKey: values["tls-key"])
    if (c.tlsCertificate == nil) != (c.tlsKey == nil) {
      throw ConfigurationError("--tls-cert and --tls-key go together")
    }
    c.tokenPublicKey = values["token-public-key"]
    guard c.tokenPublicKey != nil else {
      throw ConfigurationError("--token-public-key (or TUOYU_TOKEN_PUBLIC_KEY) is required: a PEM Ed25519 public key")
    }
    if let ms = values["health-interval-ms"] {
      guard let n = Int(ms), n > 0 else { throw ConfigurationError("--health-interval-ms must be > 0") }
      c.healthInterval = .milliseconds(n)
    }
    if let n = values["max-connections"] {
      guard let v = Int(n), v > 0 else { throw ConfigurationError("--max-connections must be > 0") }
      c.maxConnections = v
    }
    if let m = values["metrics-listen"] {
      if m == "off" {
        c.metricsPort = nil
      } else {
        (c.metricsHost, c.metricsPort) = try address(m, flag: "metrics-listen")
      }
    }
    if let s = values["shutdown-grace-ms"] {
      guard let n = Int(s), n >= 0 else { throw ConfigurationError("--shutdown-grace-ms must be >= 0") }
      c.shutdownGrace = .milliseconds(n)
    }
    if let file = values["service-token-file"] {
      guard let token = try? String(contentsOfFile: file, encoding: .utf8) else {
        throw ConfigurationError("--service-token-file \(file) cannot be read")
      }
      c.serviceToken = token.trimmingCharacters(in: .whitespacesAndNewlines)
    } else if let token = values["service-token"] {
      c.serviceToken = token
    }
    if let level = values["log-level"] {
      guard let l = Logger.Level(rawValue: level) else {
        throw ConfigurationError("--log-level must be trace, debug, info, notice, warning, error or critical")
      }
      c.logLevel = l
    }
    /// A limit in seconds, or "off" (nil) where it may be lifted; the flag's absence keeps `limit`.
    func seconds(_ flag: String, allowOff: Bool = true, _ limit: inout TimeAmount?) throws {
      guard let v = values[flag] else { return }
      if allowOff && v == "off" {
        limit = nil
        return
      }
      guard let n = Int64(v), n > 0, n <= 365 * 86400 else {
        throw ConfigurationError("--\(flag) must be seconds, 1–31536000\(allowOff ? ", or off" : "")")
      }
      limit = .seconds(n)
    }
    try seconds("keepalive-min-time-s", &c.http2.minPingInterval)
    if let v = values["keepalive-permit-without-calls"] {
      guard let b = Bool(v) else { throw ConfigurationError("--keepalive-permit-without-calls must be true or false") }
      c.http2.permitPingWithoutCalls = b
    }
    try seconds("max-connection-idle-s", &c.http2.maxConnectionIdle)
    try seconds("max-connection-age-s", &c.http2.maxConnectionAge)
    var grace: TimeAmount? = c.http2.maxConnectionAgeGrace
    try seconds("max-connection-age-grace-s", allowOff: false, &grace)
    c.http2.maxConnectionAgeGrace = grace ?? c.http2.maxConnectionAgeGrace
    try seconds("header-timeout-s", &c.http2.headerTimeout)
    if let v = values["max-concurrent-streams"] {
      guard let n = UInt32(v), (1...100_000).contains(n) else {
        throw ConfigurationError("--max-concurrent-streams must be 1–100000")
      }
      c.http2.maxConcurrentStreams = n
    }
    if let v = values["max-client-connections"] {
      if v == "off" {
        c.maxClientConnections = nil
      } else {
        guard let n = Int(v), n > 0 else { throw ConfigurationError("--max-client-connections must be > 0, or off") }
        c.maxClientConnections = n
      }
    }
    if let v = values["idle-spin-us"] {
      if v == "off" || v == "0" {
        c.idleSpin = nil
      } else {
        guard let n = Int(v), (1...IdleSpin.maxWindowMicroseconds).contains(n) else {
          throw ConfigurationError("--idle-spin-us must be microseconds, 1–\(IdleSpin.maxWindowMicroseconds), or off")
        }
        c.idleSpin = .microseconds(n)
      }
    }
    c.vaultKeyFile = values["vault-key-file"]
    c.tlsCA = values["tls-ca"]
    if let h = values["health-listen"], h != "off" {
      let (host, port) = try address(h, flag: "health-listen")
      (c.healthHost, c.healthPort) = (host, port)
    }
    for (key, value) in values where key.hasPrefix("peer-") {
      c.peers[String(key.dropFirst(5))] = try address(value, flag: key)
    }
    let known: Set<String> = [
      "listen", "database-url", "tls-cert", "tls-key", "token-public-key", "health-interval-ms",
      "max-connections", "metrics-listen", "shutdown-grace-ms", "service-token-file", "service-token", "log-level",
      "keepalive-min-time-s", "keepalive-permit-without-calls", "max-connection-idle-s", "max-connection-age-s",
      "max-connection-age-grace-s", "header-timeout-s", "max-concurrent-streams", "max-client-connections",
      "vault-key-file", "tls-ca", "health-listen", "idle-spin-us",
    ]
    if let unknown = flags.first(where: { !known.contains($0) && !$0.hasPrefix("peer-") }) {
      throw ConfigurationError("unknown setting --\(unknown)")
    }
    return c
  }
}

/// A bad or missing setting.
public struct ConfigurationError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
