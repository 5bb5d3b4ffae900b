import API
import RegistryAPI
import WorkforceAPI
import ArgumentParser
import Foundation
import NIOSSL
import RPC
import SwiftProtobuf

/// `tuoyu`: the operator CLI. Every command is one RPC (or a page loop / a stream of them).
@main
struct Tuoyu: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tuoyu",
    abstract: "Operate the tuoyu infant-care administration services.",
    discussion: """
      Server addresses and the token come from flags or the environment that `scripts/up` writes to
      .run/env (TUOYU_REGISTRY_ADDR, TUOYU_TOKEN, …). An error prints `error: STATUS: message`, then
      every violation the service named (field: message (rule …)), and exits with a code that
      says what kind of failure it was:

        0   done
        1   refused: the request breaks a rule or a limit (INVALID_ARGUMENT, FAILED_PRECONDITION,
            ALREADY_EXISTS, OUT_OF_RANGE)
        2   an import finished, but some of its rows were refused
        3   not found (NOT_FOUND)
        4   not allowed: no token, a bad or expired token, or a role that may not do this
            (UNAUTHENTICATED, PERMISSION_DENIED)
        5   unavailable, try again: the service cannot be reached or is busy (UNAVAILABLE,
            DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, CANCELLED)
        64  usage: a malformed flag or argument; nothing was sent
        66  a file cannot be read or parsed
        70  the service failed (INTERNAL, UNKNOWN, UNIMPLEMENTED, DATA_LOSS); quote the
            correlation id to its operators

      Shell completion (flags, enum values such as --mode and --status, files, contexts):
        tuoyu --generate-completion-script bash > /etc/bash_completion.d/tuoyu
        tuoyu --generate-completion-script zsh > "${fpath[1]}/_tuoyu"
        tuoyu --generate-completion-script fish > ~/.config/fish/completions/tuoyu.fish
      """,
    version: "tuoyu \(TuoyuVersion.string)",
    subcommands: [
      RegistryCommand.self, WorkforceCommand.self, InspectionCommand.self, SubsidyCommand.self, AuditCommand.self,
      WhoAmI.self,
      ConfigCommand.self,
    ])

  /// Prints the error (and every violation its status names) and exits with its code.
  static func fail(_ error: any Error) -> Never {
    var lines: [String]
    let status: Int32
    if let e = error as? RPCError {
      lines = ["error: \(e.code): \(DisplayText.escaped(e.message))"]
      let violations = Violations.lines(e.details)
      if violations.count > 1 { lines += violations.map { "  " + $0 } }
      status = exitCode(e.code)
    } else if let e = error as? CLIError {
      lines = ["error: \(e.message)"]
      status = e.exitCode
    } else {
      lines = ["error: \(DisplayText.escaped(String(describing: error), max: 200))"]
      status = 70
    }
    FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    Foundation.exit(status)
  }

  /// The exit code of a failed call (documented in the help above and the README).
  static func exitCode(_ code: Status.Code) -> Int32 {
    switch code {
    case .ok: 0
    case .invalidArgument, .failedPrecondition, .alreadyExists, .outOfRange: 1
    case .notFound: 3
    case .unauthenticated, .permissionDenied: 4
    case .unavailable, .deadlineExceeded, .resourceExhausted, .aborted, .cancelled: 5
    default: 70
    }
  }
}

/// The violations a status names, one line each: `field: message (rule …)` from a
/// `google.rpc.BadRequest`, `subject: message (rule …)` from a `google.rpc.PreconditionFailure`.
enum Violations {
  static func lines(_ details: [UInt8]?) -> [String] {
    guard let details, let status = try? Google_Rpc_Status(serializedBytes: details) else { return [] }
    var out: [String] = []
    for any in status.details {
      if let bad = try? Google_Rpc_BadRequest(unpackingAny: any) {
        for v in bad.fieldViolations {
          out.append("\(DisplayText.escaped(v.field, max: 80)): \(DisplayText.escaped(v.description_p, max: 300))")
        }
      } else if let failed = try? Google_Rpc_PreconditionFailure(unpackingAny: any) {
        for v in failed.violations {
          let subject = v.subject.isEmpty ? "" : "\(DisplayText.escaped(v.subject, max: 80)): "
          out.append(
            "\(subject)\(DisplayText.escaped(v.description_p, max: 300)) (rule \(DisplayText.escaped(v.type, max: 80)))"
          )
        }
      }
    }
    return out
  }
}

struct CLIError: Error, CustomStringConvertible {
  let message: String
  /// 64 (usage) unless said otherwise: 66 for a file, 5 for a service that cannot be reached.
  let exitCode: Int32
  init(_ message: String, exitCode: Int32 = 64) {
    self.message = message
    self.exitCode = exitCode
  }
  var description: String { message }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case table, json, ndjson, csv

  var isJSON: Bool { self == .json || self == .ndjson }
}

/// Flags every command takes.
struct GlobalOptions: ParsableArguments {
  @Option(help: "HOST:PORT of the service (default: $TUOYU_<SERVICE>_ADDR).") var server: String?
  @Option(help: "Bearer token (default: $TUOYU_TOKEN).") var token: String?
  @Option(help: "A file holding the bearer token (default: $TUOYU_TOKEN_FILE).", completion: .file())
  var tokenFile: String?
  @Option(
    name: [.customShort("o"), .long],
    help: "table, json (one document: the object, or an array for a list), ndjson (one object a line) or csv.")
  var output: OutputFormat = .table
  @Flag(help: "Leave out the header line of a table or CSV.") var noHeaders = false
  @Option(
    help: ArgumentHelp(
      "Text encoding of the CSV files read and written: utf-8 (written with a byte-order mark for Excel and WPS) or gbk.",
      valueName: "utf-8|gbk"))
  var encoding: TextEncoding = .utf8
  @Option(help: "Seconds to wait for each call.") var timeout: Double = 30
  @Flag(help: "Use TLS (verified against the system's CAs, or --ca).") var tls = false
  @Option(help: "CA certificate (PEM) for --tls.", completion: .file(extensions: ["pem", "crt"])) var ca: String?
  @Option(
    help: "A context of the config file (tuoyu config get-contexts); default its current one.",
    completion: .custom { _ in (try? CLIConfig.load().contexts.keys.sorted()) ?? [] })
  var context: String?

  /// The context in use: --context, else the config file's current one (nil when none).
  func selectedContext() throws -> (name: String, context: CLIConfig.Context)? {
    let config = try CLIConfig.load()
    guard let name = context ?? config.currentContext else { return nil }
    guard let found = config.contexts[name] else {
      throw CLIError("no context \(name.debugDescription) in \(CLIConfig.path); see tuoyu config get-contexts")
    }
    return (name, found)
  }

  /// A connected client for `service` ("registry", …). Flags first; then, with --context, the
  /// context; else the environment, then the current context.
  func client(_ service: String) throws -> RPCClient {
    let env = ProcessInfo.processInfo.environment
    let variable = "TUOYU_\(service.uppercased())_ADDR"
    let selected = try selectedContext()
    let fromContext = selected?.context.addresses[service]
    let address = server ?? (context != nil ? fromContext ?? env[variable] : env[variable] ?? fromContext)
    guard let address else {
      throw CLIError(
        "no server: pass --server HOST:PORT, set \(variable) (source .run/env after scripts/up) or add it to a context (tuoyu config set-context)"
      )
    }
    let tls = self.tls || (selected?.context.tls ?? false)
    let ca = self.ca ?? selected?.context.ca
    guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
      throw CLIError("--server must be HOST:PORT, got \(address)")
    }
    var config = RPCClient.Configuration(
      host: String(address[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port)
    if tls {
      var t = TLSConfiguration.makeClientConfiguration()
      if let ca { t.trustRoots = .file(ca) }
      config.tls = t
    }
    if let raw = try rawToken() {
      // A token read from a file or pasted ends with a newline more often than not.
      let token = raw.trimmingCharacters(in: .whitespacesAndNewlines)
      if token.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value > 0x7E }) {
        throw CLIError("the token holds spaces or control characters; a token is one line of printable ASCII")
      }
      if !token.isEmpty { config.defaultMetadata.addString("Bearer \(token)", forKey: "authorization") }
    }
    return try RPCClient(configuration: config)
  }

  var callOptions: CallOptions { CallOptions(timeout: .milliseconds(Int64(timeout * 1000))) }

  /// The token as given: --token, --token-file; then (with --context) the context's token file;
  /// else $TUOYU_TOKEN, $TUOYU_TOKEN_FILE, the current context's token file.
  func rawToken() throws -> String? {
    let env = ProcessInfo.processInfo.environment
    if let token { return token }
    if let tokenFile { return try readTextFile(tokenFile) }
    let contextFile = try selectedContext()?.context.tokenFile
    if context != nil, let contextFile { return try readTextFile(contextFile) }
    if let t = env["TUOYU_TOKEN"] { return t }
    if let path = env["TUOYU_TOKEN_FILE"] ?? contextFile { return try readTextFile(path) }
    return nil
  }
}

/// The value `body` builds from the command line, or — when a flag is malformed — one error line
/// and exit 64.
func parsed<T>(_ body: () throws -> T) -> T {
  do { return try body() } catch { Tuoyu.fail(error) }
}

/// Runs `body` with a client, closes it, and turns every error into one line and an exit code.
func withClient<T>(_ options: GlobalOptions, _ service: String, _ body: (RPCClient) async throws -> T) async -> T {
  do {
    let client = try options.client(service)
    do {
      let result = try await body(client)
      await client.close()
      return result
    } catch {
      await client.close()
      throw error
    }
  } catch {
    Tuoyu.fail(error)
  }
}

extension TextEncoding: ExpressibleByArgument {}

/// The text of a file, or a plain sentence saying why it cannot be read (exit 66).
func readTextFile(_ path: String, encoding: TextEncoding = .utf8) throws -> String {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
    throw CLIError("cannot read \(path): no such file", exitCode: 66)
  }
  if isDirectory.boolValue { throw CLIError("cannot read \(path): it is a directory", exitCode: 66) }
  guard FileManager.default.isReadableFile(atPath: path), let data = FileManager.default.contents(atPath: path) else {
    throw CLIError("cannot read \(path): permission denied", exitCode: 66)
  }
  guard let text = encoding.decode(data) else {
    throw CLIError(
      encoding == .utf8
        ? "cannot read \(path): it is not UTF-8 text (save it as UTF-8 CSV, or pass --encoding gbk for a GBK file)"
        : "cannot read \(path): it is not GBK text", exitCode: 66)
  }
  return text
}

/// Who the token says the caller is, read from the token itself (the services verify its
/// signature; this only shows what it claims).
struct WhoAmI: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "whoami", abstract: "Show the token's subject, department, roles and expiry.")
  @OptionGroup var options: GlobalOptions

  func run() async throws {
    let token = parsed { try options.rawToken()?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "" }
    guard !token.isEmpty else {
      Tuoyu.fail(CLIError("no token: pass --token or --token-file, or set TUOYU_TOKEN", exitCode: 4))
    }
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3, let payload = Data(base64URL: String(parts[1])),
      let claims = try? JSONSerialization.jsonObject(with: payload) as? [String: Any]
    else {
      Tuoyu.fail(CLIError("the token is not a JWT (three base64url parts)", exitCode: 4))
    }
    let subject = claims["sub"] as? String ?? "-"
    let department = claims["dept"] as? String ?? "-"
    let roles = (claims["roles"] as? [String]) ?? []
    let exp = (claims["exp"] as? Double).map { Date(timeIntervalSince1970: $0) }
    let expired = exp.map { $0 < Date() } ?? false
    let formatter = ISO8601DateFormatter()
    let institution = claims["inst"] as? String ?? ""
    let region = claims["region"] as? String ?? ""
    var t = Table(["SUBJECT", "DEPARTMENT", "ROLES", "INSTITUTION", "REGION", "EXPIRES"])
    t.add([
      subject, department, roles.joined(separator: ","), institution.isEmpty ? "-" : institution,
      region.isEmpty ? "-" : region, (exp.map { formatter.string(from: $0) } ?? "-") + (expired ? " (expired)" : ""),
    ])
    if !options.output.isJSON {
      printOutput(options, t, json: [])
    } else {
      let object: [String: Any] = [
        "subject": subject, "department": department, "roles": roles, "institution": institution, "region": region,
        "expires": exp.map { formatter.string(from: $0) } ?? "", "expired": expired,
      ]
      if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
        print(String(decoding: data, as: UTF8.self))
      }
    }
    if expired { throw ExitCode(4) }
  }
}

extension Data {
  /// base64url without padding, as JWTs carry it.
  init?(base64URL s: String) {
    var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while b.count % 4 != 0 { b += "=" }
    self.init(base64Encoded: b)
  }
}
