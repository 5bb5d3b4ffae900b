import API
import Postgres
import RPC
import RegistryView
import ServiceKit
import SubsidyAPI

extension SubsidyService {
  // MARK: Claims

  /// One child's monthly claim: refused with the reason when the child is not entitled; one per
  /// child, programme and month, whoever submits it. An institution claims for its own children.
  public func claimChild(
    request: Tuoyu_Subsidy_V1_ClaimChildRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Application {
    guard let programme = Self.programme(request.programme), programme != .seatAward else {
      throw Refusal.invalid("programme", rule: "claim.monthly", "claims are for the enrolment or milk subsidy")
    }
    let first = try month(request.month)
    let caller = Principal.caller(context)
    // An institution's own token claims for the children enrolled there, and must name it.
    var institutionOnly: String?
    if caller.roles.contains(Self.institutionRole) && !caller.roles.contains(Self.countyOfficer) {
      guard let own = caller.institution, !own.isEmpty else {
        throw Refusal(
          .permissionDenied, rule: "access.institution", "an institution's token must name its institution (claim inst)"
        )
      }
      institutionOnly = own
    }
    let id = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "children/\(request.childID)"
    ) { tx -> Tuoyu_Subsidy_V1_Application in
      let rows = try await tx.query(
        """
        SELECT c.birth_date, c.local_hukou, c.hardship, c.county_code,
          (SELECT e.credit_code FROM enrolment e WHERE e.child_id = c.child_id AND e.start_on <= \(first)
             AND (e.end_on IS NULL OR e.end_on >= \(first)) ORDER BY e.start_on DESC LIMIT 1)
        FROM child c WHERE c.child_id = \(request.childID)
        """)
      guard let r = rows.first else {
        throw Refusal(.notFound, rule: "child.known", field: "child_id", "no child \(request.childID)")
      }
      let (birth, local, hardship, county, enrolledAt) = try r.decode((LocalDate, Bool, Bool, String, String?).self)
      try require(county: county, context, field: "child_id")
      if let own = institutionOnly, enrolledAt != own {
        throw Refusal(
          .notFound, rule: "child.known", field: "child_id", "no child \(request.childID) at your institution")
      }
      var inst: RegistryView.Institution?
      if let enrolledAt { inst = try await RegistryView.institution(tx, enrolledAt) }
      let terms = try await SubsidyStore.terms(tx, year: Int32(first.year), county: county)
      let fen = terms.monthlyFen(programme)
      if let refusal = Entitlement.refusal(
        programme, birth: birth, localHukou: local, hardship: hardship, monthStart: first,
        institution: inst.map { ($0.status == "filed", $0.inclusive) }, monthlyFen: fen)
      {
        throw refusal
      }
      let credit = programme == .enrolment ? (enrolledAt ?? "") : ""
      let inserted = try await tx.query(
        """
        INSERT INTO application (programme, year, county_code, credit_code, child_id, month, gross_fen, policy_version,
          city_share, county_share, created_by)
        VALUES (\(programme.rawValue), \(Int32(first.year)), \(county), \(credit), \(request.childID), \(first), \(fen),
          \(terms.version), \(terms.cityShare), \(terms.countyShare), \(caller.subject))
        ON CONFLICT (programme, child_id, month) DO NOTHING RETURNING application_id
        """)
      guard let id = try inserted.first?.decode(Int64.self, at: 0) else {
        throw Refusal(
          .alreadyExists, rule: "claim.once-per-month",
          "the \(programme.rawValue) subsidy of \(first.year)-\(first.month) is already claimed for this child")
      }
      return .with { $0.applicationID = id }
    }.applicationID
    return try await pool.withConnection { try await SubsidyStore.application($0, id)! }
  }

  /// The month's claims for every entitled child of a county, by one statement; children already
  /// claimed for (by anyone) are skipped.
  public func claimMonth(
    request: Tuoyu_Subsidy_V1_ClaimMonthRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_ClaimMonthResponse {
    guard let programme = Self.programme(request.programme), programme != .seatAward else {
      throw Refusal.invalid("programme", rule: "claim.monthly", "claims are for the enrolment or milk subsidy")
    }
    let first = try month(request.month)
    try require(county: request.countyCode, context, field: "county_code")
    try await requireKnown(region: request.countyCode, field: "county_code", county: true)
    let by = Principal.caller(context).subject
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request,
      target: "claims/\(programme.rawValue)/\(request.countyCode)/\(first)"
    ) { tx -> Tuoyu_Subsidy_V1_ClaimMonthResponse in
      let terms = try await SubsidyStore.terms(tx, year: Int32(first.year), county: request.countyCode)
      let fen = terms.monthlyFen(programme)
      guard fen > 0 else {
        throw Refusal.precondition(
          "policy.no-subsidy", "no \(programme.rawValue) subsidy is in force for \(first.year)", field: "programme")
      }
      let r = try await tx.query(
        """
        WITH eligible AS (
          SELECT c.child_id, CASE WHEN \(programme.rawValue) = 'enrolment' THEN e.credit_code ELSE '' END AS credit
          FROM child c
          LEFT JOIN LATERAL (
            SELECT credit_code FROM enrolment e WHERE e.child_id = c.child_id AND e.start_on <= \(first)
              AND (e.end_on IS NULL OR e.end_on >= \(first)) ORDER BY e.start_on DESC LIMIT 1) e ON true
          LEFT JOIN institution_view i ON i.credit_code = e.credit_code
          WHERE c.county_code = \(request.countyCode) AND c.birth_date <= \(first)
            AND c.birth_date > (\(first)::date - interval '3 years')::date
            AND CASE WHEN \(programme.rawValue) = 'enrolment'
              THEN c.local_hukou AND i.status = 'filed' AND i.inclusive ELSE c.hardship END
        ), created AS (
          INSERT INTO application (programme, year, county_code, credit_code, child_id, month, gross_fen, policy_version,
            city_share, county_share, created_by)
          SELECT \(programme.rawValue), \(Int32(first.year)), \(request.countyCode), credit, child_id, \(first), \(fen),
            \(terms.version), \(terms.cityShare), \(terms.countyShare), \(by)
          FROM eligible
          ON CONFLICT (programme, child_id, month) DO NOTHING RETURNING 1
        )
        SELECT (SELECT count(*) FROM eligible), (SELECT count(*) FROM created)
        """)[0]
      let (eligible, created) = try r.decode((Int64, Int64).self)
      return .with {
        $0.created = Int32(created)
        $0.alreadyClaimed = Int32(eligible - created)
        // created ≤ the children of one county, fen ≤ 100,000 yuan: far inside Int64.
        $0.amount = Self.money(created * fen)
      }
    }
  }

  // MARK: Seat awards

  /// Upper-level funds (上级补助) assigned to a seat award before approval: the total, deducted first.
  public func assignUpperFunds(
    request: Tuoyu_Subsidy_V1_AssignUpperFundsRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Application {
    _ = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request,
      target: "applications/\(request.applicationID)"
    ) { tx -> Tuoyu_Subsidy_V1_Application in
      guard let a = try await SubsidyStore.rows(tx, [request.applicationID], lock: true).first else {
        throw Refusal(
          .notFound, rule: "application.known", field: "application_id", "no application \(request.applicationID)")
      }
      try require(county: a.county, context, field: "application_id")
      guard a.programme == .seatAward else {
        throw Refusal.precondition("upper-funds.seat-award", "upper-level funds are assigned to seat awards")
      }
      guard a.status == .submitted || a.status == .reviewed else {
        throw Refusal.precondition(
          "upper-funds.before-approval", "upper-level funds are assigned before approval (it is \(a.status.rawValue))")
      }
      try await tx.query(
        """
        UPDATE application SET upper_fen = \(request.amount.fen), upper_document = \(request.document), updated_at = now()
        WHERE application_id = \(request.applicationID)
        """)
      return .with { $0.applicationID = request.applicationID }
    }
    return try await pool.withConnection { try await SubsidyStore.application($0, request.applicationID)! }
  }

  // MARK: Reading

  public func getApplication(
    request: Tuoyu_Subsidy_V1_GetApplicationRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Application {
    let a = try await pool.withConnection { try await SubsidyStore.application($0, request.applicationID) }
    guard let a, (try? require(county: a.countyCode, context, field: "application_id")) != nil else {
      throw Refusal(
        .notFound, rule: "application.known", field: "application_id", "no application \(request.applicationID)")
    }
    return a
  }

  public func listApplications(
    request: Tuoyu_Subsidy_V1_ListApplicationsRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_ListApplicationsResponse {
    let size = try PageToken.size(request.pageSize, default: 100, max: 1000)
    var monthDay: LocalDate?
    if request.month != Tuoyu_Common_V1_Date() {
      guard let m = LocalDate(year: Int(request.month.year), month: Int(request.month.month), day: 1) else {
        throw Refusal.invalid(
          "month", rule: "date.valid", "\(request.month.year)-\(request.month.month) is not a month")
      }
      monthDay = m
    }
    let range = try counties(request.regionCode, context)
    let filters =
      "\(request.year)|\(request.regionCode)|\(request.programme.rawValue)|\(request.status.rawValue)|\(request.creditCode)|\(monthDay?.description ?? "")"
    let after = Int64(try PageToken.read(request.pageToken, filters: filters)) ?? 0
    var sql = "SELECT \(SubsidyStore.applicationColumns) FROM application a WHERE a.application_id > $1"
    var binds: [PostgresBind] = [.init(after)]
    func add(_ clause: String, _ value: PostgresBind) {
      binds.append(value)
      sql += " AND " + clause.replacingOccurrences(of: "?", with: "$\(binds.count)")
    }
    if request.year != 0 { add("a.year = ?", .init(request.year)) }
    if let range {
      add("a.county_code >= ?", .init(range.lowerBound))
      add("a.county_code <= ?", .init(range.upperBound))
    }
    if let p = Self.programme(request.programme) { add("a.programme = ?", .init(p.rawValue)) }
    if let s = Self.status(request.status) { add("a.status = ?", .init(s.rawValue)) }
    if !request.creditCode.isEmpty { add("a.credit_code = ?", .init(request.creditCode)) }
    if let monthDay { add("a.month = ?", .init(monthDay)) }
    sql += " ORDER BY a.application_id LIMIT \(size + 1)"
    let rows = try await pool.withConnection { try await $0.query(PostgresQuery(unsafeSQL: sql, binds: binds)) }
    var list = try rows.map(SubsidyStore.application(from:))
    var next = ""
    if list.count > size {
      list.removeLast()
      next = PageToken.make(after: String(list.last!.applicationID), filters: filters)
    }
    return .with {
      $0.applications = list
      $0.nextPageToken = next
    }
  }

  // MARK: Workflow

  /// The county reviews a batch (all or none).
  public func reviewApplications(
    request: Tuoyu_Subsidy_V1_ReviewApplicationsRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_StepResponse {
    let by = Principal.caller(context).subject
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "applications/review"
    ) { tx -> Tuoyu_Subsidy_V1_StepResponse in
      let rows = try await SubsidyStore.batch(tx, request.applicationIds, lock: true)
      var total: Int64 = 0
      for a in rows {
        try require(county: a.county, context, field: "application_ids")
        if let refusal = Workflow.refusal(
          .review, status: a.status, actor: by, createdBy: a.createdBy, reviewedBy: a.reviewedBy)
        {
          throw Refusal(
            refusal.kind, rule: refusal.rule, field: "application_ids", "application \(a.id): \(refusal.message)")
        }
        total = try Checked.add(total, a.gross, "the batch's amount")
      }
      try await tx.query(
        """
        UPDATE application SET status = 'reviewed', reviewed_by = \(by), updated_at = now()
        WHERE application_id = ANY(\(rows.map(\.id)))
        """)
      return .with {
        $0.applications = Int32(rows.count)
        $0.amount = Self.money(total)
      }
    }
  }

  /// Finance approves a reviewed batch (all or none): maker-checker, no holds, a seat award's
  /// institution filed, 普惠 and not suspended or revoked in the registry now, and within budget —
  /// each payer's share committed against its budget by a guarded UPDATE, so racing approvals
  /// never overspend. Each share becomes an obligation, in the ledger as expense and payable.
  public func approveApplications(
    request: Tuoyu_Subsidy_V1_ApproveApplicationsRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_StepResponse {
    let by = Principal.caller(context).subject
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "applications/approve"
    ) { tx -> Tuoyu_Subsidy_V1_StepResponse in
      let rows = try await SubsidyStore.batch(tx, request.applicationIds, lock: true)
      // A seat award's institution, asked of the registry now. Only these applications' rows are
      // locked meanwhile (the budgets are taken last).
      var entitled: [String: Refusal?] = [:]
      for code in Set(rows.filter { $0.programme == .seatAward }.map(\.creditCode)) {
        entitled.updateValue(try await awardRefusal(code), forKey: code)
      }
      var shares: [(application: Int64, payer: Payer, region: String, fen: Int64, programme: Programme, year: Int32)] =
        []
      var settled: [Int64] = []
      var total: Int64 = 0
      for a in rows {
        try require(county: a.county, context, field: "application_ids")
        if let refusal = Workflow.refusal(
          .approve, status: a.status, actor: by, createdBy: a.createdBy, reviewedBy: a.reviewedBy)
        {
          throw Refusal(
            refusal.kind, rule: refusal.rule, field: "application_ids", "application \(a.id): \(refusal.message)")
        }
        if a.onHold {
          throw Refusal.precondition(
            "payment.on-hold",
            "application \(a.id): \(a.creditCode) has an unresolved critical finding; its payments are on hold",
            field: "application_ids")
        }
        if a.programme == .seatAward {
          if let refusal = entitled[a.creditCode] ?? nil { throw refusal }
        }
        guard
          let split = Split.of(gross: a.gross, upperFen: a.upper, cityShare: a.cityShare, countyShare: a.countyShare)
        else { throw Refusal.precondition("policy.shares", "application \(a.id) has shares that cannot split") }
        total = try Checked.add(total, split.payable, "the batch's amount")
        if split.payable == 0 { settled.append(a.id) }
        if split.city > 0 {
          shares.append((a.id, .city, cityOf(a.county), split.city, a.programme, a.year))
        }
        if split.county > 0 {
          shares.append((a.id, .county, a.county, split.county, a.programme, a.year))
        }
      }
      // The shares, the ledger and the status: queued, sent with the first budget's update in one
      // round trip.
      if !shares.isEmpty {
        tx.queue(
          """
          INSERT INTO share (application_id, payer, region_code, amount_fen)
          SELECT * FROM unnest(\(shares.map(\.application)), \(shares.map(\.payer.rawValue)), \(shares.map(\.region)),
            \(shares.map(\.fen)))
          """)
        for programme in Programme.allCases {
          let mine = shares.filter { $0.programme == programme }
          guard !mine.isEmpty else { continue }
          let entries = mine.flatMap { s in
            Entry.approval(s.payer, region: s.region, fen: s.fen).map { ($0, application: Optional(s.application)) }
          }
          SubsidyStore.queuePost(tx, kind: "approval", programme: programme, entries: entries, by: by)
        }
      }
      tx.queue(
        """
        UPDATE application SET status = CASE WHEN application_id = ANY(\(settled)) THEN 'disbursed' ELSE 'approved' END,
          approved_by = \(by), updated_at = now()
        WHERE application_id = ANY(\(rows.map(\.id)))
        """)
      // The budgets: each must exist and — as far as can be seen now — hold the amount, refused with
      // what is left (this read also sends the queued writes). What holds under concurrency is the
      // committed total raised at COMMIT, each budget row locked last, briefly and in one order,
      // behind the table's CHECK "rule:budget.exceeded": racing approvals never overspend.
      var perBudget: [String: (year: Int32, region: String, programme: Programme, fen: Int64)] = [:]
      for s in shares {
        let key = "budget/\(s.year)/\(s.region)/\(s.programme.rawValue)"
        let before = perBudget[key]?.fen ?? 0
        perBudget[key] = (s.year, s.region, s.programme, try Checked.add(before, s.fen, "the batch's amount"))
      }
      let wanted = perBudget.keys.sorted().map { perBudget[$0]! }
      let found = try await tx.query(
        """
        SELECT b.year, b.region_code, b.programme, b.amount_fen - b.committed_fen FROM budget b
        JOIN unnest(\(wanted.map(\.year)), \(wanted.map(\.region)), \(wanted.map(\.programme.rawValue)))
          AS w(year, region, programme) ON b.year = w.year AND b.region_code = w.region AND b.programme = w.programme
        """
      ).map { try $0.decode((Int32, String, String, Int64).self) }
      for b in wanted {
        guard let left = found.first(where: { $0.0 == b.year && $0.1 == b.region && $0.2 == b.programme.rawValue })?.3
        else {
          throw Refusal.precondition(
            "budget.missing", "no \(b.programme.rawValue) budget for \(b.region) in \(b.year)", field: "application_ids"
          )
        }
        guard b.fen <= left else {
          throw Refusal.precondition(
            "budget.exceeded",
            "the \(b.programme.rawValue) budget of \(b.region) for \(b.year) has \(Yuan.string(left)) yuan left; this needs \(Yuan.string(b.fen))",
            field: "application_ids")
        }
        tx.queueAtCommit(
          """
          UPDATE budget SET committed_fen = committed_fen + \(b.fen), updated_at = now()
          WHERE year = \(b.year) AND region_code = \(b.region) AND programme = \(b.programme.rawValue)
          """, key: "budget/\(b.year)/\(b.region)/\(b.programme.rawValue)")
      }
      return .with {
        $0.applications = Int32(rows.count)
        $0.amount = Self.money(total)
      }
    }
  }

  /// Why the registry says an award to `code` cannot be approved now, or nil.
  func awardRefusal(_ code: String) async throws -> Refusal? {
    switch try await registry.institution(code) {
    case nil:
      .precondition("award.institution-filed", "the registry has no institution \(code)", field: "application_ids")
    case let i? where i.status != "filed":
      .precondition(
        "award.institution-filed", "\(code) is \(i.status) in the registry: an award needs a filed institution",
        field: "application_ids")
    case let i? where !i.inclusive:
      .precondition("award.institution-inclusive", "\(code) is not 普惠 in the registry", field: "application_ids")
    default: nil
    }
  }

  /// Rejects a pending application with a reason (the county at review, or finance).
  public func rejectApplication(
    request: Tuoyu_Subsidy_V1_RejectApplicationRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Application {
    let by = Principal.caller(context).subject
    _ = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request,
      target: "applications/\(request.applicationID)"
    ) { tx -> Tuoyu_Subsidy_V1_Application in
      guard let a = try await SubsidyStore.rows(tx, [request.applicationID], lock: true).first else {
        throw Refusal(
          .notFound, rule: "application.known", field: "application_id", "no application \(request.applicationID)")
      }
      try require(county: a.county, context, field: "application_id")
      let finance = Principal.caller(context).roles.contains(Self.financeApprover)
      if let refusal = Workflow.refusal(
        .reject, status: a.status, actor: by, createdBy: a.createdBy, reviewedBy: a.reviewedBy, finance: finance)
      {
        throw refusal
      }
      if a.status == .approved { try await withdraw(tx, a, by: by) }
      try await tx.query(
        """
        UPDATE application SET status = 'rejected', rejected_by = \(by), rejection_reason = \(request.reason),
          updated_at = now()
        WHERE application_id = \(request.applicationID)
        """)
      return .with { $0.applicationID = request.applicationID }
    }
    return try await pool.withConnection { try await SubsidyStore.application($0, request.applicationID)! }
  }

  /// Withdraws an approved application no share of which is paid: its approval entries reversed by
  /// new ones (never edited), its shares no longer owed, the budgets' committed totals released.
  func withdraw(_ tx: PostgresSession, _ a: SubsidyStore.Row, by: String) async throws {
    let shares = try await tx.query(
      """
      DELETE FROM share WHERE application_id = \(a.id)
      RETURNING payer, region_code, amount_fen, payment_id IS NOT NULL
      """
    ).map { r in
      let (payer, region, fen, paid) = try r.decode((String, String, Int64, Bool).self)
      return (payer: try SubsidyStore.payer(payer), region: region, fen: fen, paid: paid)
    }
    guard !shares.contains(where: \.paid) else {
      throw Refusal.precondition(
        "withdrawal.unpaid", "a share of application \(a.id) is paid: reverse the payment first",
        field: "application_id")
    }
    let entries = shares.flatMap { s in
      Entry.reversal(of: Entry.approval(s.payer, region: s.region, fen: s.fen)).map {
        ($0, application: Optional(a.id))
      }
    }
    if !entries.isEmpty {
      SubsidyStore.queuePost(tx, kind: "reversal", programme: a.programme, entries: entries, by: by)
    }
    for s in shares {
      tx.queueAtCommit(
        """
        UPDATE budget SET committed_fen = committed_fen - \(s.fen), updated_at = now()
        WHERE year = \(a.year) AND region_code = \(s.region) AND programme = \(a.programme.rawValue)
        """, key: "budget/\(a.year)/\(s.region)/\(a.programme.rawValue)")
    }
  }
}
