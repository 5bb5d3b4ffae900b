import API
import Foundation
import Logging
import Postgres
import RPC
import RegistryAPI
import ServiceKit
import SwiftProtobuf

/// What a service that follows the registry's change feed keeps of it (the workforce, inspection):
/// tables `institution_view` and `rule_view` (migration 0090, in the shared range: pass
/// `RegistryView.migrations` to the migrator), the effect of each registry event on them, and
/// their reads. Each event takes effect exactly once (`ChangeFeedConsumer`, source "registry").
public enum RegistryView {
  public static let source = "registry"

  /// The shared migration that creates the tables.
  public static var migrations: URL? { Bundle.module.url(forResource: "Migrations", withExtension: nil) }

  /// An institution as the registry last told of it.
  public struct Institution: Sendable, Hashable {
    public var creditCode: String
    public var name: String
    /// "registered", "filing-submitted", "filed", "suspended", …
    public var status: String
    public var county: String
    public var township: String
    public var inclusive: Bool
    public var version: Int32
    /// Classes and seats per class type: infant, toddler, older toddler, mixed; family seats.
    public var infant: (classes: Int, seats: Int)
    public var toddler: (classes: Int, seats: Int)
    public var olderToddler: (classes: Int, seats: Int)
    public var mixed: (classes: Int, seats: Int)
    public var family: Int

    /// Every seat it has filed.
    public var seats: Int { infant.seats + toddler.seats + olderToddler.seats + mixed.seats + family }

    public static func == (a: Institution, b: Institution) -> Bool {
      a.creditCode == b.creditCode && a.version == b.version && a.status == b.status
    }

    public func hash(into h: inout Hasher) {
      h.combine(creditCode)
      h.combine(version)
    }
  }

  /// The columns `institution(from:)` reads, from `institution_view` (alias-free).
  public static let institutionColumns = """
    credit_code, display_name, status, county_code, township_code, inclusive, version, infant_classes,
    infant_seats, toddler_classes, toddler_seats, older_classes, older_seats, mixed_classes, mixed_seats,
    family_seats
    """

  public static func institution(from row: PostgresRow) throws -> Institution {
    let (code, name, status, county, township, inclusive, version) = try row.decode(
      (String, String, String, String, String, Bool, Int32).self)
    func n(_ i: Int) throws -> Int { Int(try row.decode(Int32.self, at: i)) }
    return Institution(
      creditCode: code, name: name, status: status, county: county, township: township, inclusive: inclusive,
      version: version, infant: (try n(7), try n(8)), toddler: (try n(9), try n(10)),
      olderToddler: (try n(11), try n(12)), mixed: (try n(13), try n(14)), family: try n(15))
  }

  public static func institution(_ db: PostgresSession, _ code: String) async throws -> Institution? {
    try await db.query(
      PostgresQuery(
        unsafeSQL: "SELECT \(institutionColumns) FROM institution_view WHERE credit_code = $1", binds: [.init(code)])
    ).first.map(institution(from:))
  }

  /// Filed institutions of the counties `counties` (a range of county codes), by credit code after
  /// `after`.
  public static func filed(
    _ db: PostgresSession, counties: ClosedRange<String>, after: String, limit: Int
  )
    async throws -> [Institution]
  {
    try await institutions(db, counties: counties, statuses: ["filed"], after: after, limit: limit)
  }

  /// The most institutions one region's read takes whole (grades, coverage).
  public static let maxWhole = 50_000

  /// Every institution of the counties `counties` in one of `statuses`, in credit-code order,
  /// read a page of 1,000 at a time; a region past `maxWhole` is refused rather than cut short.
  public static func all(
    _ db: PostgresSession, counties: ClosedRange<String>, statuses: [String]
  ) async throws
    -> [Institution]
  {
    var out: [Institution] = []
    var after = ""
    while true {
      let page = try await institutions(db, counties: counties, statuses: statuses, after: after, limit: 1000)
      out += page
      guard page.count == 1000, let last = page.last else { return out }
      guard out.count < maxWhole else {
        throw Refusal.precondition(
          "region.too-large", "the region holds more than \(maxWhole) institutions; ask for one county at a time",
          field: "region_code")
      }
      after = last.creditCode
    }
  }

  /// Institutions of the counties `counties` in one of `statuses`, by credit code after `after`.
  public static func institutions(
    _ db: PostgresSession, counties: ClosedRange<String>, statuses: [String], after: String, limit: Int
  ) async throws -> [Institution] {
    try await db.query(
      PostgresQuery(
        unsafeSQL: "SELECT \(institutionColumns) FROM institution_view"
          + " WHERE county_code BETWEEN $1 AND $2 AND status = ANY(string_to_array($3, ',')) AND credit_code > $4"
          + " ORDER BY credit_code LIMIT $5",
        binds: [
          .init(counties.lowerBound), .init(counties.upperBound), .init(statuses.joined(separator: ",")), .init(after),
          .init(Int64(limit)),
        ])
    ).map(institution(from:))
  }

  /// The county codes of a region: a county itself, or a city's (…00): its counties share its
  /// first four digits. A range, so an index on the county code serves it.
  public static func counties(of region: String) -> ClosedRange<String> {
    region.count == 6 && region.hasSuffix("00") ? region...(String(region.prefix(4)) + "99") : region...region
  }

  /// Refuses (NOT_FOUND, nothing revealed) a county outside the region the caller's token limits
  /// them to; a token without a region reaches every county.
  public static func require(
    county: String, withinRegionOf context: ServerContext, field: String
  ) throws(Refusal) {
    guard let region = Principal.caller(context).region, !region.isEmpty else { return }
    guard counties(of: region).contains(county) else {
      throw Refusal(.notFound, rule: "access.scope", field: field, "not within your region \(region)")
    }
  }

  /// One rule value as the registry publishes it.
  public struct RuleValue: Sendable, Hashable {
    public var key: String
    public var region: String
    public var from: LocalDate
    public var value: Int
  }

  public static func rules(_ db: PostgresSession) async throws -> [RuleValue] {
    try await db.query("SELECT key, region_code, effective_from, value FROM rule_view").map {
      let (k, r, f, v) = try $0.decode((String, String, LocalDate, Int32).self)
      return RuleValue(key: k, region: r, from: f, value: Int(v))
    }
  }

  /// What an event of the registry does here; events of other kinds are passed over.
  @Sendable public static func apply(_ event: Tuoyu_Feed_V1_Event, _ tx: PostgresSession) async throws {
    var options = JSONDecodingOptions()
    options.ignoreUnknownFields = true
    if event.eventType.hasPrefix("institution.") {
      let e = try Tuoyu_Registry_V1_InstitutionEvent(jsonString: event.payloadJson, options: options)
      guard !e.creditCode.isEmpty, !e.status.isEmpty else { return }
      try await applyInstitution(tx, e)
    } else if event.eventType == "rules.put" {
      let v = try Tuoyu_Registry_V1_RuleValue(jsonString: event.payloadJson, options: options)
      // Events from before rule values carried their payload say nothing to apply.
      guard !v.key.isEmpty, v.value >= 1, let from = LocalDate(v.effectiveFrom) else { return }
      try await tx.query(
        """
        INSERT INTO rule_view (key, region_code, effective_from, value)
        VALUES (\(v.key), \(v.regionCode), \(from), \(v.value))
        ON CONFLICT (key, region_code, effective_from) DO UPDATE SET value = EXCLUDED.value
        """)
    }
  }

  /// The view takes an institution's newer version only.
  static func applyInstitution(_ tx: PostgresSession, _ e: Tuoyu_Registry_V1_InstitutionEvent) async throws {
    let s = e.seatsByClass
    try await tx.query(
      """
      INSERT INTO institution_view (credit_code, display_name, status, county_code, township_code, inclusive, mode,
        version, infant_classes, infant_seats, toddler_classes, toddler_seats, older_classes, older_seats,
        mixed_classes, mixed_seats, family_seats)
      VALUES (\(e.creditCode), \(e.displayName), \(e.status), \(e.countyCode), \(e.townshipCode), \(e.inclusive),
        \(Int32(e.mode.rawValue)), \(e.version), \(s.infant.classes), \(s.infant.seats), \(s.toddler.classes),
        \(s.toddler.seats), \(s.olderToddler.classes), \(s.olderToddler.seats), \(s.mixed.classes), \(s.mixed.seats),
        \(s.family))
      ON CONFLICT (credit_code) DO UPDATE SET display_name = EXCLUDED.display_name, status = EXCLUDED.status,
        county_code = EXCLUDED.county_code, township_code = EXCLUDED.township_code, inclusive = EXCLUDED.inclusive,
        mode = EXCLUDED.mode, version = EXCLUDED.version, infant_classes = EXCLUDED.infant_classes,
        infant_seats = EXCLUDED.infant_seats, toddler_classes = EXCLUDED.toddler_classes,
        toddler_seats = EXCLUDED.toddler_seats, older_classes = EXCLUDED.older_classes,
        older_seats = EXCLUDED.older_seats, mixed_classes = EXCLUDED.mixed_classes, mixed_seats = EXCLUDED.mixed_seats,
        family_seats = EXCLUDED.family_seats, updated_at = now()
      WHERE institution_view.version < EXCLUDED.version
      """)
  }

  /// The background work that follows the registry at `client` (with the service's own token).
  public static func follower(pool: PostgresPool, client: RPCClient, logger: Logger) -> FeedFollower {
    FeedFollower(
      consumer: ChangeFeedConsumer(source: source, pool: pool), client: client, logger: logger, effect: apply)
  }
}
