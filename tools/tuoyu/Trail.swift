import API
import ArgumentParser
import Foundation
import RPC

/// The services every department runs: `--service` picks whose audit trail or change feed.
let serviceNames = ["registry", "workforce", "inspection", "subsidy"]

/// `tuoyu audit`: who did what to which resource, newest first, from a service's audit trail.
struct AuditCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "audit",
    abstract: "Read a service's audit trail: who did what, when, to which resource, and the outcome.",
    discussion: """
      Newest first. --target takes a resource name (institutions/CODE) or a bare credit code;
      --principal the subject of a token. Every call that changed something, or was refused, has
      an entry; a request id ties an entry to the operator's retry.
      """)
  @OptionGroup var options: GlobalOptions
  @Option(help: "The service whose trail to read.", completion: .list(serviceNames)) var service = "registry"
  @Option(help: "A resource, e.g. institutions/91330502MA2B3C4D5E, or a bare credit code.") var target: String?
  @Option(help: "Only what this subject did.") var principal: String?
  @Option(help: "At most this many entries (1–10000).") var limit: Int = 100

  func run() async throws {
    let target = self.target.map(Self.resource) ?? ""
    let limit = parsed {
      guard serviceNames.contains(service) else {
        throw CLIError("--service: unknown \(service.debugDescription); one of \(serviceNames.joined(separator: ", "))")
      }
      guard (1...10_000).contains(self.limit) else { throw CLIError("--limit must be 1–10000, got \(self.limit)") }
      return self.limit
    }
    let entries = await withClient(options, service) { c in
      var all: [Tuoyu_Audit_V1_AuditEntry] = []
      var token = ""
      repeat {
        let page = try await Tuoyu_Audit_V1_AuditTrail.Client(c).listAuditEntries(
          checked(
            Tuoyu_Audit_V1_ListAuditEntriesRequest.with {
              $0.pageSize = Int32(min(500, limit - all.count))
              $0.pageToken = token
              $0.target = target
              $0.principal = principal ?? ""
            }), options: options.callOptions)
        all += page.entries
        token = page.nextPageToken
      } while !token.isEmpty && all.count < limit
      return Array(all.prefix(limit))
    }
    var t = Table(["AT", "PRINCIPAL", "DEPARTMENT", "METHOD", "TARGET", "OUTCOME", "REQUEST ID"])
    for e in entries {
      t.add([
        e.at, e.principal, e.department, e.method.split(separator: "/").last.map(String.init) ?? e.method, e.target,
        e.outcome, e.requestID,
      ])
    }
    printOutput(options, t, json: entries, asList: true)
  }

  /// A bare credit code (18 capitals and digits) names its institution.
  static func resource(_ s: String) -> String {
    s.utf8.count == 18 && s.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) })
      ? "institutions/\(s)" : s
  }
}

/// `tuoyu registry watch`: the service's change feed — what other services follow.
/// The service whose change feed a `watch` command reads.
protocol FeedSource { static var name: String { get } }
enum RegistryFeed: FeedSource { static var name: String { "registry" } }
enum WorkforceFeed: FeedSource { static var name: String { "workforce" } }
enum InspectionFeed: FeedSource { static var name: String { "inspection" } }

struct Watch<Source: FeedSource>: AsyncParsableCommand {
  static var configuration: CommandConfiguration {
    CommandConfiguration(
      commandName: "watch",
      abstract: "Print the change feed's events (after --after); with --follow, keep printing new ones.",
      discussion: """
        Without --follow it prints the events committed so far and exits. With --follow it prints
        each event as it commits until interrupted (JSON output is then one object a line).
        """)
  }
  @OptionGroup var options: GlobalOptions
  @Option(help: "Only events after this cursor (0: from the first).") var after: Int64 = 0
  @Flag(help: "Keep following: print new events as they commit.") var follow = false
  @Flag(help: "Print each event's data (JSON) as well.") var payload = false

  func run() async throws {
    let request = parsed {
      try checked(
        Tuoyu_Feed_V1_WatchEventsRequest.with {
          $0.afterCursor = after
          $0.stopAtEnd = !follow
        })
    }
    var headers = ["CURSOR", "OCCURRED", "TYPE", "SUBJECT"]
    if payload { headers.append("DATA") }
    func row(_ e: Tuoyu_Feed_V1_Event) -> [String] {
      [String(e.cursor), e.occurredAt, e.eventType, e.subject] + (payload ? [e.payloadJson] : [])
    }
    let streaming = follow
    var callOptions = options.callOptions
    if streaming { callOptions.timeout = nil }
    let events: [Tuoyu_Feed_V1_Event] = await withClient(options, Source.name) { c in
      let call = try await Tuoyu_Feed_V1_ChangeFeed.Client(c).watchEvents(request, options: callOptions)
      var all: [Tuoyu_Feed_V1_Event] = []
      var printedHeader = false
      while let e = try await call.receive() {
        guard streaming else {
          all.append(e)
          continue
        }
        // Following: each event as it comes (JSON one object a line).
        var one = Table(headers)
        one.add(row(e))
        switch options.output {
        case .json, .ndjson: print(e.plainJSON().rendered())
        case .csv, .table:
          let text = one.render(options.output, withHeaders: !printedHeader && !options.noHeaders) { "" }
          print(text)
          printedHeader = true
        }
        fflush(nil)
      }
      return all
    }
    guard !streaming else { return }
    var t = Table(headers)
    for e in events { t.add(row(e)) }
    printOutput(options, t, json: events, asList: true)
  }
}
