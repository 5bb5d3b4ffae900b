import ArgumentParser
import Foundation
import ServiceKit

/// Issues bearer tokens from the city's private key, and makes key pairs for development.
@main
struct TokenCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tuoyu-token", abstract: "Make key pairs and issue tuoyu bearer tokens.",
    subcommands: [Keygen.self, Issue.self])

  struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write an Ed25519 key pair (PEM).")
    @Option(help: "Directory for private.pem and public.pem.") var out: String

    func run() throws {
      let (priv, pub) = try TokenIssuer.makeKeyPair()
      try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
      let privPath = (out as NSString).appendingPathComponent("private.pem")
      guard
        FileManager.default.createFile(
          atPath: privPath, contents: Data(priv.utf8), attributes: [.posixPermissions: 0o600])
      else { throw ValidationError("cannot write \(privPath)") }
      try pub.write(toFile: (out as NSString).appendingPathComponent("public.pem"), atomically: true, encoding: .utf8)
      print("wrote \(privPath) and public.pem")
    }
  }

  struct Issue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a signed token.")
    @Option(help: "Private key (PEM).") var key: String
    @Option(help: "Subject (user or service name).") var subject: String
    @Option(help: "Department: health, finance, hrss, or a service.") var department: String
    @Option(help: "Comma-separated roles.") var roles: String
    @Option(help: "Lifetime in seconds.") var ttl: Int = 8 * 3600
    @Option(help: "Limit the token to one institution (its credit code): an employer's own staff.")
    var institution: String?
    @Option(help: "Limit the token to a region (6-digit county or city code).") var region: String?

    func run() async throws {
      let pem = try String(contentsOfFile: key, encoding: .utf8)
      let issuer = try await TokenIssuer(privateKeyPEM: pem)
      let claims = TokenClaims(
        subject: subject, department: department,
        roles: roles.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) },
        lifetime: TimeInterval(ttl), institution: institution, region: region)
      print(try await issuer.issue(claims))
    }
  }
}
