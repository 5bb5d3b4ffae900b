import API
import RegistryAPI
import Foundation
import Postgres
import RPC
import ServiceKit

public typealias Institution = Tuoyu_Registry_V1_Institution

/// The registry's reads and writes of its own schema, inside a caller's transaction.
enum RegistryStore {
  /// The day a version stands for "now" in as-of queries (every recorded version is on or before it).
  static let endOfTime = "9999-12-31"

  // MARK: Regions

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

  /// The filing context of a township on a day: its county and city, the rule pack, the county's
  /// average fee for the year (or the latest year before it that has one).
  static func filingContext(_ tx: PostgresSession, township: String, date: LocalDate) async throws -> FilingContext {
    let pack = try await rulePack(tx)
    let rows = try await tx.query(
      """
      SELECT c.code, c.parent_code FROM region t JOIN region c ON c.code = t.parent_code
      WHERE t.code = \(township) AND t.level = 'township' AND c.level = 'county'
      """)
    guard let row = rows.first else {
      return FilingContext(date: date, pack: pack, county: nil, city: "", countyAverageFee: nil)
    }
    let (county, city) = try row.decode((String, String?).self)
    let fee = try await tx.query(
      """
      SELECT average_monthly_fee_fen FROM region_year
      WHERE code = \(county) AND year <= \(date.year) AND average_monthly_fee_fen > 0
      ORDER BY year DESC LIMIT 1
      """
    ).first?.decode(Int64.self, at: 0)
    return FilingContext(date: date, pack: pack, county: county, city: city ?? "", countyAverageFee: fee)
  }

  static func rulePack(_ tx: PostgresSession) async throws -> RulePack {
    let rows = try await tx.query("SELECT key, region_code, effective_from::text, value FROM rule_value")
    return RulePack(
      try rows.compactMap { row in
        let (key, region, from, value) = try row.decode((String, String, String, Int).self)
        // A value that is not positive cannot be applied: refused when written, skipped when read.
        guard let k = RulePack.Key(rawValue: key), let d = LocalDate(from), value > 0 else { return nil }
        return RulePack.Value(k, region: region, from: d, value)
      })
  }

  // MARK: Institutions

  /// The current version of an institution, locked for the transaction when `forUpdate`.
  ///
  /// Locking takes two statements: the lock on `institution` first, then the version it points
  /// to, read after the lock is held. (One joined `SELECT … FOR UPDATE` that waited for a
  /// concurrent change re-checks the join against the version row of its old snapshot, finds no
  /// match and answers "no such institution" for one that exists.)
  static func current(_ tx: PostgresSession, _ code: String, forUpdate: Bool = true) async throws -> Institution {
    let rows: PostgresRows
    if forUpdate {
      let locked = try await tx.query(
        "SELECT current_version FROM institution WHERE credit_code = \(code) FOR UPDATE")
      guard let version = try locked.first?.decode(Int32.self, at: 0) else { throw notFound(code) }
      rows = try await tx.query(
        """
        SELECT body FROM institution_version WHERE credit_code = \(code) AND version = \(version)
        """)
    } else {
      rows = try await tx.query(
        """
        SELECT v.body FROM institution i
        JOIN institution_version v ON v.credit_code = i.credit_code AND v.version = i.current_version
        WHERE i.credit_code = \(code)
        """)
    }
    guard let row = rows.first else { throw notFound(code) }
    return try Institution(serializedBytes: try row.decode(PostgresBytes.self, at: 0).bytes)
  }

  static func notFound(_ code: String) -> Refusal {
    Refusal(
      .notFound, rule: "institution.exists", field: "credit_code", "no institution with credit code \(quoted(code))")
  }

  /// The institution as it stood at the end of `day`.
  static func asOf(_ tx: PostgresSession, _ code: String, day: LocalDate) async throws -> Institution? {
    let rows = try await tx.query(
      """
      SELECT body FROM institution_version
      WHERE credit_code = \(code) AND effective_date <= \(day.description)::date
      ORDER BY version DESC LIMIT 1
      """)
    return try rows.first.map { try Institution(serializedBytes: try $0.decode(PostgresBytes.self, at: 0).bytes) }
  }

  /// Records `next` as the version after `previous` (the first when `previous` is nil, as the
  /// caller read it in this transaction): effective dates never go backwards, and the
  /// change-feed event commits with it.
  static func append(
    _ tx: PostgresSession, _ next: Institution, event: Lifecycle.Action, by caller: Caller, after previous: Institution?
  ) async throws -> Institution {
    var inst = next
    let code = inst.creditCode
    guard let date = LocalDate(inst.effectiveDate) else {
      throw Refusal.invalid("effective_date", rule: "effective-date.valid", "not a valid date")
    }
    let filingNumber: String? = inst.filingNumber.isEmpty ? nil : inst.filingNumber
    if let previous {
      if let lastDay = LocalDate(previous.effectiveDate), date < lastDay {
        throw Refusal.precondition(
          "effective-date.not-before-last",
          "the effective date \(date) is before the institution's last change on \(lastDay)", field: "effective_date")
      }
      inst.version = try Checked.add(previous.version, 1, "the version of \(code)")
      try await tx.query(
        """
        UPDATE institution SET current_version = \(inst.version), filing_number = \(filingNumber),
          status = \(Lifecycle.name(inst.status)), county_code = \(inst.countyCode),
          township_code = \(inst.facts.townshipCode)
        WHERE credit_code = \(code)
        """)
    } else {
      let inserted = try await tx.query(
        """
        INSERT INTO institution (credit_code, current_version, filing_number, status, county_code, township_code)
        VALUES (\(code), 1, \(filingNumber), \(Lifecycle.name(inst.status)), \(inst.countyCode), \(inst.facts.townshipCode))
        ON CONFLICT (credit_code) DO NOTHING RETURNING credit_code
        """)
      guard !inserted.isEmpty else {
        throw Refusal(
          .alreadyExists, rule: "institution.unique-credit-code", field: "credit_code",
          "an institution with credit code \(code) is already registered")
      }
      inst.version = 1
    }
    inst.facts.seats.total = try FilingRules.storedTotal(inst.facts.seats)
    inst.name = "institutions/\(code)"
    let body = PostgresBytes(try inst.serializedBytes())
    try await tx.query(
      """
      INSERT INTO institution_version (credit_code, version, event, effective_date, recorded_by, status,
        display_name, mode, inclusive, township_code, county_code, total_seats, body)
      VALUES (\(code), \(inst.version), \(event.rawValue), \(date.description)::date, \(caller.principal),
        \(Lifecycle.name(inst.status)), \(inst.displayName), \(Int32(inst.facts.mode.rawValue)), \(inst.facts.inclusive),
        \(inst.facts.townshipCode), \(inst.countyCode), \(inst.facts.seats.total), \(body))
      """)
    let payload: [String: Any] = [
      "credit_code": code, "status": Lifecycle.name(inst.status), "version": Int(inst.version),
      "county_code": inst.countyCode, "township_code": inst.facts.townshipCode, "inclusive": inst.facts.inclusive,
      "seats": Int(inst.facts.seats.total), "effective_date": date.description, "filing_number": inst.filingNumber,
    ]
    let json = String(
      decoding: try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys]), as: UTF8.self)
    try await Outbox.append(
      tx, eventType: "institution.\(event.rawValue)", subject: inst.name, payload: PostgresJSON(json))
    return inst
  }

  /// The next receipt number of a county's year: TY-330502-2026-00001.
  /// Numbers an import brought in from an older system are skipped.
  static func nextFilingNumber(_ tx: PostgresSession, county: String, year: Int) async throws -> String {
    while true {
      let n = try await tx.query(
        """
        INSERT INTO filing_sequence (county_code, year, last) VALUES (\(county), \(year), 1)
        ON CONFLICT (county_code, year) DO UPDATE SET last = filing_sequence.last + 1
        RETURNING last
        """)[0].decode(Int.self, at: 0)
      let digits = String(n)
      let number = "TY-\(county)-\(year)-\(String(repeating: "0", count: max(0, 5 - digits.count)))\(digits)"
      if try await tx.query("SELECT 1 FROM institution WHERE filing_number = \(number)").isEmpty { return number }
    }
  }
}

extension LocalDate {
  /// From the API's date; nil when unset or invalid.
  init?(_ d: Tuoyu_Common_V1_Date) {
    self.init(year: Int(d.year), month: Int(d.month), day: Int(d.day))
  }

  var proto: Tuoyu_Common_V1_Date {
    .with {
      $0.year = Int32(year)
      $0.month = Int32(month)
      $0.day = Int32(day)
    }
  }
}
