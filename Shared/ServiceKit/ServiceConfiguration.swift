import Foundation

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
    var i = 0
    while i < arguments.count {
      let arg = arguments[i]
      guard arg.hasPrefix("--") else { throw ConfigurationError("unexpected argument \(arg)") }
      let body = arg.dropFirst(2)
      if let eq = body.firstIndex(of: "=") {
        values[String(body[..<eq])] = String(body[body.index(after: eq)...])
        i += 1
      } else {
        guard i + 1 < arguments.count else { throw ConfigurationError("\(arg) needs a value") }
        values[String(body)] = arguments[i + 1]
        i += 2
      }
    }
    let listen = values["listen"] ?? "127.0.0.1:0"
    guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
      (0...65535).contains(port)
    else { throw ConfigurationError("--listen must be HOST:PORT, got \(listen)") }
    guard let url = values["database-url"] else {
      throw ConfigurationError("--database-url (or TUOYU_DATABASE_URL) is required")
    }
    var c = ServiceConfiguration(
      host: String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")),
      port: port, databaseURL: url, tlsCertificate: values["tls-cert"], tlsKey: values["tls-key"])
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
    return c
  }
}

/// A bad or missing setting.
public struct ConfigurationError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
