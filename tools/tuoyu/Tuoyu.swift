import API
import RegistryAPI
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
      .run/env (TUOYU_REGISTRY_ADDR, TUOYU_TOKEN, …). Errors print one line
      `error: STATUS: message (rule …)` and exit non-zero.
      """,
    subcommands: [RegistryCommand.self])

  /// Exit codes: 0 ok, 1 the server refused or failed, 2 some rows of an import failed, 64 usage.
  static func fail(_ error: any Error) -> Never {
    let line: String
    if let e = error as? RPCError {
      line = "error: \(e.code): \(DisplayText.escaped(e.message))"
    } else if let e = error as? CLIError {
      line = "error: \(e.message)"
    } else {
      line = "error: \(error)"
    }
    FileHandle.standardError.write(Data((line + "\n").utf8))
    Foundation.exit(error is CLIError ? 64 : 1)
  }
}

struct CLIError: Error, CustomStringConvertible {
  let message: String
  init(_ message: String) { self.message = message }
  var description: String { message }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case table, json, csv
}

/// Flags every command takes.
struct GlobalOptions: ParsableArguments {
  @Option(help: "HOST:PORT of the service (default: $TUOYU_<SERVICE>_ADDR).") var server: String?
  @Option(help: "Bearer token (default: $TUOYU_TOKEN).") var token: String?
  @Option(help: "table, json or csv.") var output: OutputFormat = .table
  @Option(help: "Seconds to wait for each call.") var timeout: Double = 30
  @Flag(help: "Use TLS (verified against the system's CAs, or --ca).") var tls = false
  @Option(help: "CA certificate (PEM) for --tls.") var ca: String?

  /// A connected client for `service` ("registry", …).
  func client(_ service: String) throws -> RPCClient {
    let env = ProcessInfo.processInfo.environment
    let variable = "TUOYU_\(service.uppercased())_ADDR"
    guard let address = server ?? env[variable] else {
      throw CLIError("no server: pass --server HOST:PORT or set \(variable) (source .run/env after scripts/up)")
    }
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
    if let token = token ?? env["TUOYU_TOKEN"], !token.isEmpty {
      config.defaultMetadata.addString("Bearer \(token)", forKey: "authorization")
    }
    return try RPCClient(configuration: config)
  }

  var callOptions: CallOptions { CallOptions(timeout: .milliseconds(Int64(timeout * 1000))) }
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
