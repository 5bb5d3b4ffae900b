import API
import Foundation
import Postgres
import RPC
import RegistryAPI
import ServiceKit
import SwiftProtobuf

extension RegistryStore {
  struct RegionRow {
    var code: String
    var name: String
    var level: String
    var parent: String?
  }

  static func region(_ tx: PostgresSession, _ code: String) async throws -> RegionRow? {
    let rows = try await tx.query("SELECT code, name, level, parent_code FROM region WHERE code = \(code)")
    guard let row = rows.first else { return nil }
    let (c, n, l, p) = try row.decode((String, String, String, String?).self)
    return RegionRow(code: c, name: n, level: l, parent: p)
  }

  /// The regions named, in code order, with their years: two queries however many there are.
  static func regions(_ db: PostgresSession, _ codes: [String]) async throws -> [Tuoyu_Registry_V1_Region] {
    let rows = try await db.query(
      """
      SELECT code, name, level, parent_code FROM region WHERE code = ANY(\(codes)) ORDER BY code
      """)
    var years: [String: [Tuoyu_Registry_V1_RegionYear]] = [:]
    for row in try await db.query(
      """
      SELECT code, year, population, seat_target, average_monthly_fee_fen FROM region_year
      WHERE code = ANY(\(codes)) ORDER BY code, year
      """)
    {
      let (code, y, p, t, f) = try row.decode((String, Int32, Int64, Int64, Int64).self)
      years[code, default: []].append(
        .with {
          $0.year = y
          $0.population = p
          $0.seatTarget = t
          $0.averageMonthlyFee.fen = f
        })
    }
    return try rows.map { row in
      let (code, name, level, parent) = try row.decode((String, String, String, String?).self)
      return .with {
        $0.name = "regions/\(code)"
        $0.code = code
        $0.displayName = name
        $0.level = Self.level(level)
        $0.parentCode = parent ?? ""
        $0.years = years[code] ?? []
      }
    }
  }

  /// The filing context of a township on a day: its county and city, the rule pack, the county's
  /// average fee for the year (or the latest year before it that has one).
  static func filingContext(
    _ tx: PostgresSession, township: String, date: LocalDate, rules: RulePackCache, creditCode: String = ""
  ) async throws -> FilingContext {
    try await importContext(tx, township: township, date: date, rules: rules, warningsFor: creditCode).context
  }

  /// The filing context, and — for an import row, in the same statement — whether its credit code
  /// is registered and its filing number used already (empty strings ask nothing).
  /// `warningsFor`: a credit code whose issuing region (characters 3–8) is looked up for the
  /// region warnings (empty: none).
  static func importContext(
    _ tx: PostgresSession, township: String, date: LocalDate, rules: RulePackCache, creditCode: String = "",
    filingNumber: String = "", warningsFor: String = ""
  ) async throws -> (context: FilingContext, codeTaken: Bool, numberTaken: Bool) {
    let divisionCode = Registration.division(warningsFor) ?? ""
    // One statement: the rule pack's version, the township's county and city, the county's fee,
    // names for the warnings.
    let row = try await tx.query(
      """
      SELECT p.version, c.code, c.parent_code,
        (SELECT average_monthly_fee_fen FROM region_year
         WHERE code = c.code AND year <= \(date.year) AND average_monthly_fee_fen > 0 ORDER BY year DESC LIMIT 1),
        \(creditCode) <> '' AND EXISTS (SELECT 1 FROM institution WHERE credit_code = \(creditCode)),
        \(filingNumber) <> '' AND EXISTS (SELECT 1 FROM institution WHERE filing_number = \(filingNumber)),
        c.name,
        (SELECT name FROM region WHERE code = \(divisionCode) AND level IN ('city', 'county')),
        (SELECT string_agg(o.code || ' ' || o.name, E'\\n' ORDER BY o.code) FROM region o
         WHERE o.parent_code = c.parent_code AND o.level = 'county' AND o.code <> c.code)
      FROM rule_pack_version p
      LEFT JOIN (region t JOIN region c ON c.code = t.parent_code AND t.level = 'township' AND c.level = 'county')
        ON t.code = \(township)
      """)[0]
    let (version, county, city, fee, codeTaken, numberTaken) = try row.decode(
      (Int64, String?, String?, Int64?, Bool, Bool).self)
    let countyName = try row.decode(String?.self, at: 6)
    let divisionName = try row.decode(String?.self, at: 7)
    let others = try row.decode(String?.self, at: 8)
    let pack = try await rules.pack(version: version) { try await rulePack(tx) }
    guard let county else {
      let context = FilingContext(date: date, pack: pack, county: nil, city: "", countyAverageFee: nil)
      return (context, codeTaken, numberTaken)
    }
    let otherCounties = (others ?? "").split(separator: "\n").map { line in
      let parts = line.split(separator: " ", maxSplits: 1)
      return (code: String(parts[0]), name: parts.count > 1 ? String(parts[1]) : "")
    }
    let context = FilingContext(
      date: date, pack: pack, county: county, city: city ?? "", countyAverageFee: fee, countyName: countyName ?? "",
      otherCounties: otherCounties, division: divisionName.map { (divisionCode, $0) })
    return (context, codeTaken, numberTaken)
  }

  static func level(_ s: String) -> Tuoyu_Registry_V1_RegionLevel {
    switch s {
    case "city": .city
    case "county": .county
    case "township": .township
    default: .unspecified
    }
  }

  /// The codes of the subtree under `root` (every city's when empty), in code order after `after`.
  static func subtreeCodes(_ db: PostgresSession, root: String, after: String, limit: Int) async throws -> [String] {
    try await db.query(
      """
      WITH RECURSIVE t AS (
        SELECT code FROM region WHERE (\(root) = '' AND parent_code IS NULL) OR code = \(root)
        UNION ALL SELECT r.code FROM region r JOIN t ON r.parent_code = t.code)
      SELECT code FROM t WHERE code > \(after) ORDER BY code LIMIT \(limit)
      """
    ).map { try $0.decode(String.self, at: 0) }
  }

  /// Creates the region or renames it, and sets the given years' figures (other years stay).
  static func putRegion(
    _ tx: PostgresSession, code: String, name: String, level: String, parent: String?,
    years: [Tuoyu_Registry_V1_RegionYear]
  ) async throws {
    try await tx.query(
      """
      INSERT INTO region (code, name, level, parent_code) VALUES (\(code), \(name), \(level), \(parent))
      ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name
      """)
    // Only the figures given change; one left out keeps its value (0 in a new year).
    for y in years {
      let population: Int64? = y.hasPopulation ? y.population : nil
      let target: Int64? = y.hasSeatTarget ? y.seatTarget : nil
      let fee: Int64? = y.hasAverageMonthlyFee ? y.averageMonthlyFee.fen : nil
      tx.queue(
        """
        INSERT INTO region_year (code, year, population, seat_target, average_monthly_fee_fen)
        VALUES (\(code), \(y.year), coalesce(\(population), 0), coalesce(\(target), 0), coalesce(\(fee), 0))
        ON CONFLICT (code, year) DO UPDATE SET
          population = coalesce(\(population), region_year.population),
          seat_target = coalesce(\(target), region_year.seat_target),
          average_monthly_fee_fen = coalesce(\(fee), region_year.average_monthly_fee_fen)
        """)
    }
  }
}
