import API
import Foundation
import Postgres
import RPC
import RegistryAPI
import ServiceKit
import SwiftProtobuf

public typealias Institution = Tuoyu_Registry_V1_Institution

/// The registry's reads and writes of its own schema (all of its SQL), inside a caller's session or
/// transaction. Institutions: versions, the current state, lists and history.
enum RegistryStore {
  /// The current version of an institution, locked for the transaction when `forUpdate`.
  ///
  /// Locking takes two statements: the lock on `institution` first, then the version it points
  /// to, read after the lock is held. (One joined `SELECT … FOR UPDATE` that waited for a
  /// concurrent change re-checks the join against the version row of its old snapshot, finds no
  /// match and answers "no such institution" for one that exists.)
  static func current(_ tx: PostgresSession, _ code: String, forUpdate: Bool = true) async throws -> Institution {
    guard forUpdate else { return try Institution(serializedBytes: try await currentBody(tx, code)) }
    let locked = try await tx.query(
      "SELECT current_version FROM institution WHERE credit_code = \(code) FOR UPDATE")
    guard let version = try locked.first?.decode(Int32.self, at: 0) else { throw notFound(code) }
    let rows = try await tx.query(
      """
      SELECT body FROM institution_version WHERE credit_code = \(code) AND version = \(version)
      """)
    guard let row = rows.first else { throw notFound(code) }
    return try Institution(serializedBytes: try row.decode(PostgresBytes.self, at: 0).bytes)
  }

  /// The stored encoding of the current version (what Get answers, sent as it is).
  static func currentBody(_ db: PostgresSession, _ code: String) async throws -> [UInt8] {
    // In binary: the body arrives as its bytes, not as hex to decode.
    let rows = try await db.query(binary: "SELECT body FROM institution WHERE credit_code = \(code)")
    guard let row = rows.first else { throw notFound(code) }
    return try row.decode(PostgresBytes.self, at: 0).bytes
  }

  static func notFound(_ code: String) -> Refusal {
    Refusal(
      .notFound, rule: "institution.exists", field: "credit_code", "no institution with credit code \(quoted(code))")
  }

  /// The institution as it stood at the end of `day`.
  static func asOf(_ tx: PostgresSession, _ code: String, day: LocalDate) async throws -> [UInt8]? {
    let rows = try await tx.query(
      binary: """
        SELECT body FROM institution_version
        WHERE credit_code = \(code) AND effective_date <= \(day)
        ORDER BY version DESC LIMIT 1
        """)
    return try rows.first.map { try $0.decode(PostgresBytes.self, at: 0).bytes }
  }

  /// The institutions matching the filters, as of `day` (now when nil), in credit code order
  /// after `after`.
  static func institutions(
    _ db: PostgresSession, regionCode: String, regionLevel: String, modes: [Int32], statuses: [String],
    inclusiveOnly: Bool, day: LocalDate?, after: String, limit: Int
  ) async throws -> [Institution] {
    try await institutionBodies(
      db, regionCode: regionCode, regionLevel: regionLevel, modes: modes, statuses: statuses,
      inclusiveOnly: inclusiveOnly, day: day, after: after, limit: limit
    ).map { try Institution(serializedBytes: $0.body) }
  }

  /// What stands now, from `institution` alone (it holds each current version whole), walked in
  /// credit-code order from the page token over the index that fits the filters: status with
  /// county or township, county, township, or the primary key (a city's counties cover nearly
  /// every row). Only the filters given are in the statement (fixed fragments, values bound), so
  /// each combination is its own prepared statement with its own plan.
  /// Several statuses or modes mean any of them.
  static func currentList(
    regionCode: String, regionLevel: String, modes: [Int32], statuses: [String], inclusiveOnly: Bool, after: String,
    limit: Int
  ) -> PostgresQuery {
    var q = PostgresQuery(
      unsafeSQL: "SELECT credit_code, body FROM institution WHERE credit_code > $1", binds: [.init(after)])
    func and(_ fragment: String, _ value: some PostgresEncodable) {
      q.binds.append(PostgresBind(value))
      q.sql += " AND " + fragment.replacingPlaceholder(with: "$\(q.binds.count)")
    }
    switch statuses.count {
    case 0: break
    case 1: and("status = ?", statuses[0])
    default: and("status = ANY(string_to_array(?, ','))", statuses.joined(separator: ","))
    }
    switch regionLevel {
    case "township": and("township_code = ?", regionCode)
    case "county": and("county_code = ?", regionCode)
    case "city": and("county_code IN (SELECT code FROM region WHERE parent_code = ?)", regionCode)
    default: break
    }
    switch modes.count {
    case 0: break
    case 1: and("mode = ?", modes[0])
    default: and("mode = ANY(string_to_array(?, ',')::int[])", modes.map(String.init).joined(separator: ","))
    }
    if inclusiveOnly { q.sql += " AND inclusive" }
    q.binds.append(PostgresBind(limit))
    q.sql += " ORDER BY credit_code LIMIT $\(q.binds.count)"
    return q.binary()
  }

  /// The same, as each one's credit code and stored encoding.
  static func institutionBodies(
    _ db: PostgresSession, regionCode: String, regionLevel: String, modes: [Int32], statuses: [String],
    inclusiveOnly: Bool, day: LocalDate?, after: String, limit: Int
  ) async throws -> [(code: String, body: [UInt8])] {
    let rows: PostgresRows
    if let day {
      let modeList = modes.map(String.init).joined(separator: ",")
      let statusList = statuses.joined(separator: ",")
      // As of a day: each institution's latest version on or before it (an index scan in
      // (credit_code, version DESC) order that stops at the page's end).
      rows = try await db.query(
        binary: """
          WITH v AS (
            SELECT DISTINCT ON (credit_code) credit_code, status, mode, inclusive, township_code, county_code, body
            FROM institution_version
            WHERE credit_code > \(after) AND effective_date <= \(day)
            ORDER BY credit_code, version DESC)
          SELECT credit_code, body FROM v
          WHERE (\(modeList) = '' OR mode = ANY(string_to_array(\(modeList), ',')::int[]))
            AND (\(statusList) = '' OR status = ANY(string_to_array(\(statusList), ',')))
            AND (NOT \(inclusiveOnly) OR inclusive)
            AND (\(regionCode) = '' OR county_code = \(regionCode) OR township_code = \(regionCode)
                 OR county_code IN (SELECT code FROM region WHERE parent_code = \(regionCode)))
          ORDER BY credit_code LIMIT \(limit)
          """)
    } else {
      rows = try await db.query(
        currentList(
          regionCode: regionCode, regionLevel: regionLevel, modes: modes, statuses: statuses,
          inclusiveOnly: inclusiveOnly, after: after, limit: limit))
    }
    return try rows.map { row in
      let (code, body) = try row.decode((String, PostgresBytes).self)
      return (code, body.bytes)
    }
  }

  /// The versions of an institution in effect by the end of `asOf` (all when nil), oldest first.
  static func history(
    _ db: PostgresSession, _ code: String, asOf: LocalDate?
  ) async throws
    -> [Tuoyu_Registry_V1_InstitutionVersion]
  {
    let rows = try await db.query(
      """
      SELECT version, event, effective_date, recorded_at, recorded_by, body FROM institution_version
      WHERE credit_code = \(code) AND (\(asOf) IS NULL OR effective_date <= \(asOf)) ORDER BY version
      """)
    let formatter = ISO8601DateFormatter()
    return try rows.map { row in
      let (version, event, date, at, by, body) = try row.decode(
        (Int32, String, LocalDate, Date, String, PostgresBytes).self)
      return .with {
        $0.version = version
        $0.event = event
        $0.effectiveDate = date.proto
        $0.recordedAt = formatter.string(from: at)
        $0.recordedBy = by
        $0.institution = (try? Institution(serializedBytes: body.bytes)) ?? .init()
      }
    }
  }

  /// Records `next` as the version after `previous` (the first when `previous` is nil, as the
  /// caller read it in this transaction): effective dates never go backwards, and the
  /// change-feed event commits with it.
  /// `knownNew`: the caller checked in this transaction that no institution has the credit code,
  /// so the first insert is queued too (a concurrent registration still fails it, as a unique
  /// violation).
  static func append(
    _ tx: PostgresSession, _ next: Institution, event action: Lifecycle.Action, by caller: Principal,
    after previous: Institution?, knownNew: Bool = false
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
    } else {
      inst.version = 1
    }
    inst.facts.seats.total = try FilingRules.storedTotal(inst.facts.seats)
    inst.name = "institutions/\(code)"
    let body = PostgresBytes(try inst.serializedBytes())
    let status = Lifecycle.name(inst.status)
    let mode = Int32(inst.facts.mode.rawValue)
    // `institution` holds the current version whole (what Get and lists read, from one row).
    if previous != nil {
      tx.queue(
        """
        UPDATE institution SET current_version = \(inst.version), filing_number = \(filingNumber),
          status = \(status), county_code = \(inst.countyCode), township_code = \(inst.facts.townshipCode),
          mode = \(mode), inclusive = \(inst.facts.inclusive), body = \(body)
        WHERE credit_code = \(code)
        """)
    } else if knownNew {
      tx.queue(
        """
        INSERT INTO institution (credit_code, current_version, filing_number, status, county_code, township_code, mode,
          inclusive, body)
        VALUES (\(code), 1, \(filingNumber), \(status), \(inst.countyCode), \(inst.facts.townshipCode), \(mode),
          \(inst.facts.inclusive), \(body))
        """)
    } else {
      let inserted = try await tx.query(
        """
        INSERT INTO institution (credit_code, current_version, filing_number, status, county_code, township_code, mode,
          inclusive, body)
        VALUES (\(code), 1, \(filingNumber), \(status), \(inst.countyCode), \(inst.facts.townshipCode), \(mode),
          \(inst.facts.inclusive), \(body))
        ON CONFLICT (credit_code) DO NOTHING RETURNING credit_code
        """)
      guard !inserted.isEmpty else {
        throw Refusal(
          .alreadyExists, rule: "institution.unique-credit-code", field: "credit_code",
          "an institution with credit code \(code) is already registered")
      }
    }
    // The writes below need no answer: queued, they go with the transaction's next statement.
    tx.queue(
      """
      INSERT INTO institution_version (credit_code, version, event, effective_date, recorded_by, status,
        display_name, mode, inclusive, township_code, county_code, total_seats, body)
      VALUES (\(code), \(inst.version), \(action.rawValue), \(date), \(caller.subject),
        \(Lifecycle.name(inst.status)), \(inst.displayName), \(Int32(inst.facts.mode.rawValue)), \(inst.facts.inclusive),
        \(inst.facts.townshipCode), \(inst.countyCode), \(inst.facts.seats.total), \(body))
      """)
    let event = Tuoyu_Registry_V1_InstitutionEvent.with {
      $0.creditCode = code
      $0.status = Lifecycle.name(inst.status)
      $0.version = inst.version
      $0.countyCode = inst.countyCode
      $0.townshipCode = inst.facts.townshipCode
      $0.inclusive = inst.facts.inclusive
      $0.seats = inst.facts.seats.total
      $0.effectiveDate = date.description
      $0.filingNumber = inst.filingNumber
      $0.seatsByClass = inst.facts.seats
      $0.displayName = inst.displayName
      $0.mode = inst.facts.mode
    }
    try Outbox.queue(tx, eventType: "institution.\(action.rawValue)", subject: inst.name, event: event)
    // Running totals many transactions share: written last, in key order (no deadlocks between
    // concurrent imports or filings).
    for change in FiledChange.between(previous, inst) {
      tx.queueAtCommit(
        """
        INSERT INTO filed_change (day, county_code, township_code, institutions, seats, inclusive_institutions, inclusive_seats)
        VALUES (\(date), \(change.county), \(change.township), \(change.institutions), \(change.seats),
          \(change.inclusiveInstitutions), \(change.inclusiveSeats))
        ON CONFLICT (day, county_code, township_code) DO UPDATE SET
          institutions = filed_change.institutions + EXCLUDED.institutions,
          seats = filed_change.seats + EXCLUDED.seats,
          inclusive_institutions = filed_change.inclusive_institutions + EXCLUDED.inclusive_institutions,
          inclusive_seats = filed_change.inclusive_seats + EXCLUDED.inclusive_seats
        """, key: "filed_change|\(date)|\(change.county)|\(change.township)")
      tx.queueAtCommit(
        """
        INSERT INTO filed_change_year (year, county_code, township_code, institutions, seats, inclusive_institutions,
          inclusive_seats)
        VALUES (\(date.year), \(change.county), \(change.township), \(change.institutions), \(change.seats),
          \(change.inclusiveInstitutions), \(change.inclusiveSeats))
        ON CONFLICT (year, county_code, township_code) DO UPDATE SET
          institutions = filed_change_year.institutions + EXCLUDED.institutions,
          seats = filed_change_year.seats + EXCLUDED.seats,
          inclusive_institutions = filed_change_year.inclusive_institutions + EXCLUDED.inclusive_institutions,
          inclusive_seats = filed_change_year.inclusive_seats + EXCLUDED.inclusive_seats
        """, key: "filed_change_year|\(date.year)|\(change.county)|\(change.township)")
    }
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

/// What one new version changes in the filed totals of its day (`filed_change`): the predecessor's
/// contribution taken back, its own added, per county and township; nothing when neither is filed.
struct FiledChange: Equatable {
  var county: String
  var township: String
  var institutions: Int64 = 0
  var seats: Int64 = 0
  var inclusiveInstitutions: Int64 = 0
  var inclusiveSeats: Int64 = 0

  var isZero: Bool { institutions == 0 && seats == 0 && inclusiveInstitutions == 0 && inclusiveSeats == 0 }

  /// The changes, in (county, township) order (one lock order for every transaction), zeros left out.
  static func between(_ previous: Institution?, _ next: Institution) -> [FiledChange] {
    var changes: [String: FiledChange] = [:]
    func add(_ inst: Institution, _ sign: Int64) {
      guard inst.status == .filed else { return }
      let key = "\(inst.countyCode)|\(inst.facts.townshipCode)"
      var c = changes[key] ?? FiledChange(county: inst.countyCode, township: inst.facts.townshipCode)
      // Stored totals are at most 10,000 seats: no overflow.
      let seats = Int64(inst.facts.seats.total)
      c.institutions += sign
      c.seats += sign * seats
      if inst.facts.inclusive {
        c.inclusiveInstitutions += sign
        c.inclusiveSeats += sign * seats
      }
      changes[key] = c
    }
    if let previous { add(previous, -1) }
    add(next, 1)
    return changes.values.filter { !$0.isZero }.sorted { ($0.county, $0.township) < ($1.county, $1.township) }
  }
}

extension String {
  /// The fragment with its one `?` replaced.
  fileprivate func replacingPlaceholder(with placeholder: String) -> String {
    guard let i = firstIndex(of: "?") else { return self }
    return String(self[..<i]) + placeholder + String(self[index(after: i)...])
  }
}

extension RegistryStore {
  /// The latest credit grades (from the inspection service's feed) of the institutions named.
  static func grades(_ db: PostgresSession, _ codes: [String]) async throws -> [String: String] {
    guard !codes.isEmpty else { return [:] }
    var out: [String: String] = [:]
    for row in try await db.query("SELECT credit_code, grade FROM institution_grade WHERE credit_code = ANY(\(codes))")
    {
      let (code, grade) = try row.decode((String, String).self)
      out[code] = grade
    }
    return out
  }
}
