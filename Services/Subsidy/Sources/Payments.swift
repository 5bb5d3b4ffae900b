import API
import Foundation
import Postgres
import RPC
import ServiceKit
import SubsidyAPI

extension SubsidyService {
  /// Pays one payer's shares of approved applications (one programme, one payer region) as one
  /// payment with the payer's reference. A retry with the same request id returns the same payment;
  /// a share is paid at most once whatever the request id; a reference at most once per payer.
  public func disburse(
    request: Tuoyu_Subsidy_V1_DisburseRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Payment {
    guard let payer = Self.payer(request.payer) else {
      throw Refusal.invalid("payer", rule: "payer.known", "name the payer: city or county")
    }
    let paidOn = try day(request.paidOn, field: "paid_on")
    guard paidOn <= today() else {
      throw Refusal.invalid("paid_on", rule: "date.not-future", "\(paidOn) is in the future")
    }
    let by = Principal.caller(context).subject
    let id = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request,
      target: "payments/\(payer.rawValue)/\(request.reference)"
    ) { tx -> Tuoyu_Subsidy_V1_Payment in
      let rows = try await SubsidyStore.batch(tx, request.applicationIds, lock: true)
      let programme = rows[0].programme
      for a in rows {
        try require(county: a.county, context, field: "application_ids")
        guard a.programme == programme else {
          throw Refusal.invalid("application_ids", rule: "payment.one-programme", "a payment is for one programme")
        }
        guard a.status == .approved else {
          throw Refusal.precondition(
            "payment.approved", "application \(a.id) is \(a.status.rawValue): only approved applications are paid",
            field: "application_ids")
        }
        if a.onHold {
          throw Refusal.precondition(
            "payment.on-hold",
            "application \(a.id): \(a.creditCode) has an unresolved critical finding; its payments are on hold",
            field: "application_ids")
        }
      }
      let ids = rows.map(\.id)
      let shares = try await tx.query(
        """
        SELECT application_id, region_code, amount_fen, payment_id FROM share
        WHERE application_id = ANY(\(ids)) AND payer = \(payer.rawValue) ORDER BY application_id FOR UPDATE
        """
      ).map { try $0.decode((Int64, String, Int64, Int64?).self) }
      let owed = Dictionary(uniqueKeysWithValues: shares.map { ($0.0, $0) })
      var total: Int64 = 0
      var region: String?
      for a in rows {
        guard let s = owed[a.id] else {
          throw Refusal.precondition(
            "payment.share", "application \(a.id) owes nothing from the \(payer.rawValue)", field: "application_ids")
        }
        guard s.3 == nil else {
          throw Refusal.precondition(
            "payment.once", "the \(payer.rawValue)'s share of application \(a.id) is already paid",
            field: "application_ids")
        }
        if region == nil { region = s.1 }
        guard region == s.1 else {
          throw Refusal.invalid("application_ids", rule: "payment.one-payer", "a payment comes from one payer's region")
        }
        total = try Checked.add(total, s.2, "the payment's amount")
      }
      let payerRegion = region!
      let inserted = try await tx.query(
        """
        INSERT INTO payment (payer, region_code, programme, reference, amount_fen, paid_on, applications, paid_by)
        VALUES (\(payer.rawValue), \(payerRegion), \(programme.rawValue), \(request.reference), \(total), \(paidOn),
          \(Int32(rows.count)), \(by))
        ON CONFLICT (payer, region_code, reference) DO NOTHING RETURNING payment_id
        """)
      guard let pid = try inserted.first?.decode(Int64.self, at: 0) else {
        throw Refusal(
          .alreadyExists, rule: "payment.reference-unique", field: "reference",
          "the \(payer.rawValue) of \(payerRegion) already has a payment with this reference")
      }
      // The rest is queued: sent with the COMMIT in one round trip, the budgets' running totals last.
      tx.queue("UPDATE share SET payment_id = \(pid) WHERE application_id = ANY(\(ids)) AND payer = \(payer.rawValue)")
      SubsidyStore.queuePost(
        tx, kind: "disbursement", programme: programme,
        entries: Entry.disbursement(payer, region: payerRegion, fen: total).map { ($0, application: nil) },
        payment: pid,
        by: by)
      try paid(tx, rows: rows, owed: owed.mapValues(\.2), region: payerRegion, programme: programme, sign: 1)
      tx.queue(
        """
        UPDATE application a SET status = 'disbursed', updated_at = now()
        WHERE a.application_id = ANY(\(ids))
          AND NOT EXISTS (SELECT 1 FROM share s WHERE s.application_id = a.application_id AND s.payment_id IS NULL)
        """)
      return .with { $0.paymentID = pid }
    }.paymentID
    return try await pool.withConnection { try await payment($0, id)! }
  }

  /// Moves the budgets' paid amounts by a payment's shares (per year), at COMMIT: a running total
  /// many transactions share, so its row is locked last and briefly, in one order.
  func paid(
    _ tx: PostgresSession, rows: [SubsidyStore.Row], owed: [Int64: Int64], region: String, programme: Programme,
    sign: Int64
  ) throws {
    var perYear: [Int32: Int64] = [:]
    for a in rows { perYear[a.year] = try Checked.add(perYear[a.year] ?? 0, owed[a.id] ?? 0, "the payment's amount") }
    for (year, fen) in perYear {
      tx.queueAtCommit(
        """
        UPDATE budget SET paid_fen = paid_fen + \(sign * fen), updated_at = now()
        WHERE year = \(year) AND region_code = \(region) AND programme = \(programme.rawValue)
        """, key: "budget/\(year)/\(region)/\(programme.rawValue)")
    }
  }

  /// A correction: the payment's ledger entries reversed by a new transaction (never edited); its
  /// shares are owed again and their applications approved again.
  public func reversePayment(
    request: Tuoyu_Subsidy_V1_ReversePaymentRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Payment {
    let by = Principal.caller(context).subject
    _ = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "payments/\(request.paymentID)"
    ) { tx -> Tuoyu_Subsidy_V1_Payment in
      guard let p = try await payment(tx, request.paymentID),
        (try? require(county: p.regionCode, context, field: "")) != nil
      else {
        throw Refusal(.notFound, rule: "payment.known", field: "payment_id", "no payment \(request.paymentID)")
      }
      guard !p.reversed else {
        throw Refusal.precondition("payment.reverse-once", "payment \(request.paymentID) is already reversed")
      }
      let txn = try await tx.query(
        "SELECT txn_id FROM ledger_txn WHERE payment_id = \(request.paymentID) AND kind = 'disbursement' FOR UPDATE"
      )[0].decode(Int64.self, at: 0)
      let entries = try await tx.query(
        "SELECT account, payer, region_code, amount_fen FROM ledger_entry WHERE txn_id = \(txn) ORDER BY entry_id"
      ).map { r in
        let (account, payer, region, fen) = try r.decode((String, String, String, Int64).self)
        return Entry(account: account, payer: try SubsidyStore.payer(payer), region: region, fen: fen)
      }
      let programme = Programme(rawValue: Self.programmeName(p.programme)) ?? .seatAward
      _ = try await SubsidyStore.post(
        tx, kind: "reversal", programme: programme,
        entries: Entry.reversal(of: entries).map { ($0, application: nil) }, payment: request.paymentID,
        reverses: txn, by: by)
      let shares = try await tx.query(
        """
        UPDATE share SET payment_id = NULL WHERE payment_id = \(request.paymentID)
        RETURNING application_id, amount_fen
        """
      ).map { try $0.decode((Int64, Int64).self) }
      let ids = shares.map(\.0)
      let rows = try await SubsidyStore.rows(tx, ids, lock: true)
      try paid(
        tx, rows: rows, owed: Dictionary(uniqueKeysWithValues: shares), region: p.regionCode, programme: programme,
        sign: -1)
      try await tx.query(
        "UPDATE application SET status = 'approved', updated_at = now() WHERE application_id = ANY(\(ids))")
      return .with { $0.paymentID = request.paymentID }
    }
    return try await pool.withConnection { try await payment($0, request.paymentID)! }
  }

  static func programmeName(_ p: Tuoyu_Subsidy_V1_Programme) -> String { programme(p)?.rawValue ?? "" }

  func payment(_ db: PostgresSession, _ id: Int64) async throws -> Tuoyu_Subsidy_V1_Payment? {
    let rows = try await db.query(
      """
      SELECT p.payment_id, p.payer, p.region_code, p.programme, p.reference, p.amount_fen, p.paid_on, p.applications,
        p.paid_by,
        EXISTS (SELECT 1 FROM ledger_txn t JOIN ledger_txn r ON r.reverses = t.txn_id WHERE t.payment_id = p.payment_id)
      FROM payment p WHERE p.payment_id = \(id)
      """)
    guard let r = rows.first else { return nil }
    let (pid, payer, region, programme, reference, fen, paidOn, applications, paidBy, reversed) = try r.decode(
      (Int64, String, String, String, String, Int64, LocalDate, Int32, String, Bool).self)
    return .with {
      $0.paymentID = pid
      $0.payer = Self.payer(payer)
      $0.regionCode = region
      $0.programme = Self.programme(programme)
      $0.reference = reference
      $0.amount = Self.money(fen)
      $0.paidOn = paidOn.proto
      $0.applications = applications
      $0.paidBy = paidBy
      $0.reversed = reversed
    }
  }

  // MARK: Ledger

  public func listLedger(
    request: Tuoyu_Subsidy_V1_ListLedgerRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_ListLedgerResponse {
    let size = try PageToken.size(request.pageSize, default: 200, max: 1000)
    let range = try counties(request.regionCode, context)
    let filters = "\(request.applicationID)|\(request.paymentID)|\(request.regionCode)"
    let after = Int64(try PageToken.read(request.pageToken, filters: filters)) ?? 0
    var sql = """
      SELECT e.entry_id, e.txn_id, e.account, e.programme, e.region_code, e.payer, e.amount_fen,
        coalesce(e.application_id, 0), coalesce(e.payment_id, 0), t.kind, coalesce(t.reverses, 0),
        to_char(t.recorded_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS')
      FROM ledger_entry e JOIN ledger_txn t ON t.txn_id = e.txn_id WHERE e.entry_id > $1
      """
    var binds: [PostgresBind] = [.init(after)]
    func add(_ clause: String, _ value: PostgresBind) {
      binds.append(value)
      sql += " AND " + clause.replacingOccurrences(of: "?", with: "$\(binds.count)")
    }
    if request.applicationID != 0 {
      // The application's own entries and those of the payments that paid it (both "?" are $n).
      add(
        "(e.application_id = ? OR e.payment_id IN (SELECT s.payment_id FROM share s WHERE s.application_id = ?))",
        .init(request.applicationID))
    }
    if request.paymentID != 0 { add("e.payment_id = ?", .init(request.paymentID)) }
    if let range {
      add("e.region_code >= ?", .init(range.lowerBound))
      add("e.region_code <= ?", .init(range.upperBound))
    }
    sql += " ORDER BY e.entry_id LIMIT \(size + 1)"
    let rows = try await pool.withConnection { try await $0.query(PostgresQuery(unsafeSQL: sql, binds: binds)) }
    var entries = try rows.map { r -> Tuoyu_Subsidy_V1_LedgerEntry in
      let (id, txn, account, programme, region, payer, fen, app, pay, kind, reverses, at) = try r.decode(
        (Int64, Int64, String, String, String, String, Int64, Int64, Int64, String, Int64, String).self)
      return .with {
        $0.entryID = id
        $0.transactionID = txn
        $0.account = account
        $0.programme = Self.programme(programme)
        $0.regionCode = region
        $0.payer = Self.payer(payer)
        $0.amountFen = fen
        $0.applicationID = app
        $0.paymentID = pay
        $0.kind = kind
        $0.reverses = reverses
        $0.recordedAt = at
      }
    }
    var next = ""
    if entries.count > size {
      entries.removeLast()
      next = PageToken.make(after: String(entries.last!.entryID), filters: filters)
    }
    return .with {
      $0.entries = entries
      $0.nextPageToken = next
    }
  }

  /// Balances per account, programme, region and payer; the total of every entry (always 0).
  public func getBalances(
    request: Tuoyu_Subsidy_V1_GetBalancesRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_GetBalancesResponse {
    let range = try counties(request.regionCode, context) ?? "000000"..."999999"
    let rows = try await pool.withConnection {
      try await $0.query(
        """
        SELECT account, programme, region_code, payer, sum(amount_fen)::bigint FROM ledger_entry
        WHERE region_code BETWEEN \(range.lowerBound) AND \(range.upperBound)
        GROUP BY account, programme, region_code, payer ORDER BY region_code, programme, payer, account
        """)
    }
    var response = Tuoyu_Subsidy_V1_GetBalancesResponse()
    var total: Int64 = 0
    for r in rows {
      let (account, programme, region, payer, fen) = try r.decode((String, String, String, String, Int64).self)
      total = try Checked.add(total, fen, "the ledger's total")
      response.balances.append(
        .with {
          $0.account = account
          $0.programme = Self.programme(programme)
          $0.regionCode = region
          $0.payer = Self.payer(payer)
          $0.balanceFen = fen
        })
    }
    response.totalFen = total
    return response
  }

  // MARK: Reconciliation

  /// A payer's statement for a period against the payments the ledger holds (not reversed):
  /// matched, missing (paid here, not on the statement) and unexpected (on the statement only, or
  /// for another amount). Kept with its findings.
  public func reconcile(
    request: Tuoyu_Subsidy_V1_ReconcileRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_ReconcileResponse {
    guard let payer = Self.payer(request.payer) else {
      throw Refusal.invalid("payer", rule: "payer.known", "name the payer: city or county")
    }
    guard let from = LocalDate(request.from), let to = LocalDate(request.to), from <= to else {
      throw Refusal.invalid("from", rule: "period.valid", "the statement's period is two dates, from ≤ to")
    }
    guard (payer == .city) == request.regionCode.hasSuffix("00") else {
      throw Refusal.invalid(
        "region_code", rule: "payer.region", "the city pays from the city's code, a county from its own")
    }
    try require(county: request.regionCode, context, field: "region_code")
    let by = Principal.caller(context).subject
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request,
      target: "reconciliations/\(payer.rawValue)/\(request.regionCode)"
    ) { tx -> Tuoyu_Subsidy_V1_ReconcileResponse in
      let ledger = try await tx.query(
        """
        SELECT p.reference, p.amount_fen, p.payment_id FROM payment p
        WHERE p.payer = \(payer.rawValue) AND p.region_code = \(request.regionCode) AND p.paid_on BETWEEN \(from) AND \(to)
          AND NOT EXISTS (SELECT 1 FROM ledger_txn t JOIN ledger_txn r ON r.reverses = t.txn_id WHERE t.payment_id = p.payment_id)
        ORDER BY p.payment_id
        """
      ).map { r in
        let (reference, fen, id) = try r.decode((String, Int64, Int64).self)
        return (reference: reference, fen: fen, paymentID: id)
      }
      let result = Reconciliation.match(
        ledger: ledger, statement: request.lines.map { (reference: $0.reference, fen: $0.amount.fen) })
      func item(_ i: Reconciliation.Item) -> Tuoyu_Subsidy_V1_ReconcileItem {
        .with {
          $0.reference = i.reference
          $0.ledgerFen = i.ledgerFen
          $0.statementFen = i.statementFen
          $0.paymentID = i.paymentID
        }
      }
      let findings: [[String: Any]] =
        result.missing.map { ["kind": "missing", "reference": $0.reference, "ledger_fen": $0.ledgerFen] }
        + result.unexpected.map {
          [
            "kind": "unexpected", "reference": $0.reference, "ledger_fen": $0.ledgerFen,
            "statement_fen": $0.statementFen,
          ]
        }
      let json = String(decoding: try JSONSerialization.data(withJSONObject: findings), as: UTF8.self)
      let id = try await tx.query(
        """
        INSERT INTO reconciliation (payer, region_code, period_from, period_to, matched, missing, unexpected, findings,
          reconciled_by)
        VALUES (\(payer.rawValue), \(request.regionCode), \(from), \(to), \(Int32(result.matched.count)),
          \(Int32(result.missing.count)), \(Int32(result.unexpected.count)), \(json)::jsonb, \(by))
        RETURNING reconciliation_id
        """)[0].decode(Int64.self, at: 0)
      return .with {
        $0.reconciliationID = id
        $0.matched = result.matched.map(item)
        $0.missing = result.missing.map(item)
        $0.unexpected = result.unexpected.map(item)
      }
    }
  }
}
