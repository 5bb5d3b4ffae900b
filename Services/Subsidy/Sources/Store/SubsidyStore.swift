import API
import Foundation
import Postgres
import ServiceKit
import SubsidyAPI

/// Every SQL statement of the subsidy that more than one handler needs.
enum SubsidyStore {
  /// A payer as a row holds it. The tables' CHECK allows only city and county, so anything else is
  /// a fault to report, never a payer to guess.
  static func payer(_ text: String) throws -> Payer {
    guard let payer = Payer(rawValue: text) else {
      throw PostgresError(.typeMismatch, "payer \(text.prefix(16).debugDescription) is neither city nor county")
    }
    return payer
  }

  /// The policy in force for a county in a year: the county's latest version, else the city's,
  /// else one for every region, else the defaults.
  static func terms(_ db: PostgresSession, year: Int32, county: String) async throws -> PolicyTerms {
    let rows = try await db.query(
      """
      SELECT version, award_per_seat_fen, city_share, county_share, enrolment_monthly_fen, milk_monthly_fen,
        CASE WHEN region_code = '' THEN 'all' WHEN region_code = \(county) THEN 'county' ELSE 'city' END
      FROM policy
      WHERE year = \(year) AND region_code IN (\(county), \(cityOf(county)), '')
      ORDER BY length(region_code) DESC, region_code = \(county) DESC, version DESC LIMIT 1
      """)
    guard let r = rows.first else { return .defaults }
    let (v, award, city, countyShare, enrolment, milk, source) = try r.decode(
      (Int32, Int64, Int32, Int32, Int64, Int64, String).self)
    return PolicyTerms(
      version: v, awardPerSeatFen: award, cityShare: city, countyShare: countyShare, enrolmentMonthlyFen: enrolment,
      milkMonthlyFen: milk, source: source)
  }

  static func budget(
    _ db: PostgresSession, year: Int32, region: String, programme: Programme
  ) async throws -> Tuoyu_Subsidy_V1_Budget? {
    guard
      let r = try await db.query(
        """
        SELECT amount_fen, committed_fen, paid_fen FROM budget
        WHERE year = \(year) AND region_code = \(region) AND programme = \(programme.rawValue)
        """
      ).first
    else { return nil }
    let (amount, committed, paid) = try r.decode((Int64, Int64, Int64).self)
    return .with {
      $0.year = year
      $0.regionCode = region
      $0.programme = SubsidyService.programme(programme)
      $0.amount = SubsidyService.money(amount)
      $0.committed = SubsidyService.money(committed)
      $0.paid = SubsidyService.money(paid)
    }
  }

  // MARK: Applications

  static let applicationColumns = """
    a.application_id, a.programme, a.year, a.county_code, a.credit_code, a.status, coalesce(a.acceptance_id, 0),
    a.seats, coalesce(a.child_id, 0), a.month, a.gross_fen, a.upper_fen, a.upper_document, a.policy_version,
    a.city_share, a.county_share, a.created_by, a.reviewed_by, a.approved_by, a.rejected_by, a.rejection_reason,
    EXISTS (SELECT 1 FROM hold h WHERE h.credit_code = a.credit_code AND a.credit_code <> '' AND h.released_on IS NULL),
    (SELECT coalesce(json_agg(json_build_array(s.payer, s.region_code, s.amount_fen, coalesce(s.payment_id, 0),
        coalesce(p.reference, '')) ORDER BY s.payer), '[]')::text
     FROM share s LEFT JOIN payment p ON p.payment_id = s.payment_id WHERE s.application_id = a.application_id)
    """

  /// An application as the API shows it: with its shares (owed or paid), or — before approval —
  /// the split it would have.
  static func application(from r: PostgresRow) throws -> Tuoyu_Subsidy_V1_Application {
    let (id, programme, year, county, credit, status, acceptance, seats, child, month) = try r.decode(
      (Int64, String, Int32, String, String, String, Int64, Int32, Int64, LocalDate?).self)
    var a = Tuoyu_Subsidy_V1_Application()
    a.applicationID = id
    a.programme = SubsidyService.programme(programme)
    a.year = year
    a.countyCode = county
    a.creditCode = credit
    a.status = SubsidyService.status(status)
    a.acceptanceID = acceptance
    a.seats = seats
    a.childID = child
    if let month { a.month = month.proto }
    let gross = try r.decode(Int64.self, at: 10)
    let upper = try r.decode(Int64.self, at: 11)
    a.gross = SubsidyService.money(gross)
    a.upperFunds = SubsidyService.money(upper)
    a.upperFundsDocument = try r.decode(String.self, at: 12)
    a.policyVersion = try r.decode(Int32.self, at: 13)
    let cityShare = try r.decode(Int32.self, at: 14)
    let countyShare = try r.decode(Int32.self, at: 15)
    a.createdBy = try r.decode(String.self, at: 16)
    a.reviewedBy = try r.decode(String.self, at: 17)
    a.approvedBy = try r.decode(String.self, at: 18)
    a.rejectedBy = try r.decode(String.self, at: 19)
    a.rejectionReason = try r.decode(String.self, at: 20)
    a.onHold = try r.decode(Bool.self, at: 21) && ["submitted", "reviewed", "approved"].contains(status)
    let split = Split.of(gross: gross, upperFen: upper, cityShare: cityShare, countyShare: countyShare)
    a.payable = SubsidyService.money(split?.payable ?? 0)
    let shares = try r.decode(String.self, at: 22)
    if shares != "[]" {
      let parsed = try ShareJSON.parse(shares)
      a.shares = parsed.map { s in
        .with {
          $0.payer = SubsidyService.payer(s.payer)
          $0.regionCode = s.region
          $0.amount = SubsidyService.money(s.fen)
          $0.paymentID = s.paymentID
          $0.paymentReference = s.reference
        }
      }
    } else if let split, status != "rejected" {
      // Not approved yet: what each payer would owe.
      for (payer, region, fen) in [(Payer.city, cityOf(county), split.city), (.county, county, split.county)]
      where fen > 0 {
        a.shares.append(
          .with {
            $0.payer = payer == .city ? .city : .county
            $0.regionCode = region
            $0.amount = SubsidyService.money(fen)
          })
      }
    }
    return a
  }

  static func application(_ db: PostgresSession, _ id: Int64) async throws -> Tuoyu_Subsidy_V1_Application? {
    try await db.query(
      PostgresQuery(
        unsafeSQL: "SELECT \(applicationColumns) FROM application a WHERE a.application_id = $1", binds: [.init(id)])
    ).first.map(application(from:))
  }

  /// The applications of a batch, locked, in id order (so two batches lock in the same order).
  struct Row: Sendable {
    var id: Int64
    var programme: Programme
    var year: Int32
    var county: String
    var creditCode: String
    var status: ApplicationStatus
    var gross: Int64
    var upper: Int64
    var cityShare: Int32
    var countyShare: Int32
    var createdBy: String
    var reviewedBy: String
    var onHold: Bool
  }

  static func rows(_ tx: PostgresSession, _ ids: [Int64], lock: Bool) async throws -> [Row] {
    let rows = try await tx.query(
      PostgresQuery(
        unsafeSQL: """
          SELECT a.application_id, a.programme, a.year, a.county_code, a.credit_code, a.status, a.gross_fen, a.upper_fen,
            a.city_share, a.county_share, a.created_by, a.reviewed_by,
            EXISTS (SELECT 1 FROM hold h WHERE h.credit_code = a.credit_code AND a.credit_code <> '' AND h.released_on IS NULL)
          FROM application a WHERE a.application_id = ANY($1) ORDER BY a.application_id
          \(lock ? "FOR UPDATE OF a" : "")
          """, binds: [.init(ids)]))
    return try rows.map { r in
      let (id, programme, year, county, credit, status, gross, upper, city, countyShare, created, reviewed, held) =
        try r.decode(
          (Int64, String, Int32, String, String, String, Int64, Int64, Int32, Int32, String, String, Bool).self)
      return Row(
        id: id, programme: Programme(rawValue: programme) ?? .seatAward, year: year, county: county, creditCode: credit,
        status: ApplicationStatus(rawValue: status) ?? .rejected, gross: gross, upper: upper, cityShare: city,
        countyShare: countyShare, createdBy: created, reviewedBy: reviewed, onHold: held)
    }
  }

  /// The ids of a batch: distinct, all known (NOT_FOUND naming the first unknown otherwise).
  static func batch(_ tx: PostgresSession, _ ids: [Int64], lock: Bool) async throws -> [Row] {
    guard !ids.isEmpty else {
      throw Refusal.invalid("application_ids", rule: "batch.nonempty", "name at least one application")
    }
    let distinct = Array(Set(ids)).sorted()
    guard distinct.count == ids.count else {
      throw Refusal.invalid("application_ids", rule: "batch.distinct", "an application is named twice")
    }
    let found = try await rows(tx, distinct, lock: lock)
    if found.count != distinct.count {
      let have = Set(found.map(\.id))
      let missing = distinct.first { !have.contains($0) }!
      throw Refusal(.notFound, rule: "application.known", field: "application_ids", "no application \(missing)")
    }
    return found
  }

  // MARK: Ledger

  /// Writes one balanced transaction and its entries in one statement (the database checks the
  /// entries of each statement sum to zero per transaction).
  static func post(
    _ tx: PostgresSession, kind: String, programme: Programme, entries: [(Entry, application: Int64?)],
    payment: Int64? = nil, reverses: Int64? = nil, by: String
  ) async throws -> Int64 {
    try await tx.query(
      posting(kind: kind, programme: programme, entries: entries, payment: payment, reverses: reverses, by: by)
    )[0].decode(Int64.self, at: 0)
  }

  /// The same, queued: sent with the transaction's next statement (its id not needed).
  static func queuePost(
    _ tx: PostgresSession, kind: String, programme: Programme, entries: [(Entry, application: Int64?)],
    payment: Int64? = nil, by: String
  ) {
    tx.queue(posting(kind: kind, programme: programme, entries: entries, payment: payment, reverses: nil, by: by))
  }

  static func posting(
    kind: String, programme: Programme, entries: [(Entry, application: Int64?)], payment: Int64?, reverses: Int64?,
    by: String
  ) -> PostgresQuery {
    """
    WITH t AS (
      INSERT INTO ledger_txn (kind, payment_id, reverses, recorded_by) VALUES (\(kind), \(payment), \(reverses), \(by))
      RETURNING txn_id
    ), e AS (
      INSERT INTO ledger_entry (txn_id, account, programme, region_code, payer, amount_fen, application_id, payment_id)
      SELECT t.txn_id, account, \(programme.rawValue), region, payer, fen, nullif(app, 0), \(payment)
      FROM t, unnest(\(entries.map(\.0.account)), \(entries.map(\.0.region)), \(entries.map(\.0.payer.rawValue)),
        \(entries.map(\.0.fen)), \(entries.map { $0.application ?? 0 })) AS x(account, region, payer, fen, app)
      RETURNING 1
    )
    SELECT txn_id FROM t
    """
  }
}

/// The shares as the listing query aggregates them (a JSON array of arrays).
enum ShareJSON {
  struct Share {
    var payer: String
    var region: String
    var fen: Int64
    var paymentID: Int64
    var reference: String
  }

  static func parse(_ text: String) throws -> [Share] {
    guard let data = text.data(using: .utf8),
      let outer = try JSONSerialization.jsonObject(with: data) as? [[Any]]
    else { return [] }
    return outer.compactMap { a in
      guard a.count == 5, let payer = a[0] as? String, let region = a[1] as? String,
        let fen = (a[2] as? NSNumber)?.int64Value, let pid = (a[3] as? NSNumber)?.int64Value,
        let reference = a[4] as? String
      else { return nil }
      return Share(payer: payer, region: region, fen: fen, paymentID: pid, reference: reference)
    }
  }
}
