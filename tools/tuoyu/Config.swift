import ArgumentParser
import Foundation

/// The CLI's config file: named contexts (the services' addresses, TLS, a token file) and the
/// current one — like kubectl's contexts. `$TUOYU_CONFIG`, else `~/.config/tuoyu/config.json`.
struct CLIConfig: Codable {
  struct Context: Codable {
    /// Service name ("registry", …) → HOST:PORT.
    var addresses: [String: String] = [:]
    var tls: Bool = false
    var ca: String?
    var tokenFile: String?

    enum CodingKeys: String, CodingKey {
      case addresses, tls, ca
      case tokenFile = "token_file"
    }
  }

  var currentContext: String?
  var contexts: [String: Context] = [:]

  enum CodingKeys: String, CodingKey {
    case currentContext = "current_context"
    case contexts
  }

  static var path: String {
    let env = ProcessInfo.processInfo.environment
    if let p = env["TUOYU_CONFIG"], !p.isEmpty { return p }
    let home = env["HOME"] ?? NSHomeDirectory()
    return home + "/.config/tuoyu/config.json"
  }

  /// The file's contents; an empty config when there is no file.
  static func load() throws -> CLIConfig {
    guard FileManager.default.fileExists(atPath: path) else { return CLIConfig() }
    let text = try readTextFile(path)
    do {
      return try JSONDecoder().decode(CLIConfig.self, from: Data(text.utf8))
    } catch {
      throw CLIError("\(path) is not a tuoyu config file (JSON with current_context and contexts)", exitCode: 66)
    }
  }

  func save() throws {
    let url = URL(fileURLWithPath: CLIConfig.path)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    do {
      try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try encoder.encode(self).write(to: url, options: .atomic)
      // It names token files and addresses: the user's alone.
      _ = chmod(url.path, 0o600)
    } catch {
      throw CLIError("cannot write \(url.path): \(error.localizedDescription)", exitCode: 66)
    }
  }
}

struct ConfigCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "config", abstract: "Named contexts: which services, with which TLS and token.",
    discussion: """
      A context names the services' addresses, TLS and a token file, so that one command line
      works against a county's test system and the city's production alike:

        tuoyu config set-context city --registry registry.health.city:443 --tls --ca city-ca.pem \\
              --token-file ~/.tuoyu/city.token
        tuoyu config use-context city
        tuoyu registry pending            # against the city's registry, with its token
        tuoyu --context dev registry list # one command against another context

      Flags win over everything; with --context the context wins over the environment
      (TUOYU_REGISTRY_ADDR, TUOYU_TOKEN, TUOYU_TOKEN_FILE); without it the environment wins over
      the current context. The file: $TUOYU_CONFIG, else ~/.config/tuoyu/config.json.
      """,
    subcommands: [SetContext.self, UseContext.self, GetContexts.self, DeleteContext.self])
}

struct SetContext: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "set-context", abstract: "Create a context or change the settings given.")
  @Argument var name: String
  @Option(help: "HOST:PORT of the registry.") var registry: String?
  @Option(help: "HOST:PORT of workforce.") var workforce: String?
  @Option(help: "HOST:PORT of inspection.") var inspection: String?
  @Option(help: "HOST:PORT of subsidy.") var subsidy: String?
  @Flag(inversion: .prefixedNo, help: "Use TLS.") var tls: Bool?
  @Option(help: "CA certificate (PEM).") var ca: String?
  @Option(help: "A file holding the bearer token.") var tokenFile: String?

  func run() async throws {
    var config = parsed { try CLIConfig.load() }
    guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
      Tuoyu.fail(CLIError("a context's name is printable ASCII without spaces"))
    }
    var c = config.contexts[name] ?? CLIConfig.Context()
    for (service, address) in [
      ("registry", registry), ("workforce", workforce), ("inspection", inspection), ("subsidy", subsidy),
    ] {
      if let address { c.addresses[service] = address }
    }
    if let tls { c.tls = tls }
    if let ca { c.ca = ca }
    if let tokenFile { c.tokenFile = tokenFile }
    config.contexts[name] = c
    if config.currentContext == nil { config.currentContext = name }
    parsed { try config.save() }
    print("context \(name) saved in \(CLIConfig.path)")
  }
}

struct UseContext: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "use-context", abstract: "Make a context the current one.")
  @Argument var name: String

  func run() async throws {
    var config = parsed { try CLIConfig.load() }
    guard config.contexts[name] != nil else {
      Tuoyu.fail(CLIError("no context \(name.debugDescription); see tuoyu config get-contexts"))
    }
    config.currentContext = name
    parsed { try config.save() }
    print("current context: \(name)")
  }
}

struct DeleteContext: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "delete-context", abstract: "Remove a context.")
  @Argument var name: String

  func run() async throws {
    var config = parsed { try CLIConfig.load() }
    guard config.contexts.removeValue(forKey: name) != nil else {
      Tuoyu.fail(CLIError("no context \(name.debugDescription); see tuoyu config get-contexts"))
    }
    if config.currentContext == name { config.currentContext = nil }
    parsed { try config.save() }
    print("context \(name) deleted")
  }
}

struct GetContexts: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "get-contexts", abstract: "List the contexts.")

  func run() async throws {
    let config = parsed { try CLIConfig.load() }
    var t = Table(["CURRENT", "NAME", "REGISTRY", "TLS", "TOKEN FILE"])
    for (name, c) in config.contexts.sorted(by: { $0.key < $1.key }) {
      t.add([
        config.currentContext == name ? "*" : "", name, c.addresses["registry"] ?? "-", c.tls ? "yes" : "no",
        c.tokenFile ?? "-",
      ])
    }
    print(t.render(.table) { "" })
  }
}
