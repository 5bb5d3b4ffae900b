import API
import Postgres
import RPC
import ServiceKit
import WorkforceAPI

extension WorkforceService {
  /// Bans a person for life (终身禁入) on a recorded decision, and the directly responsible manager
  /// with them when the decision names one. Every employment of a banned person ends at once;
  /// `person.banned` and `employment.ended` go on the change feed for the registry and inspection.
  public func banPerson(
    request: Tuoyu_Workforce_V1_BanPersonRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_BanPersonResponse {
    let scope = try Scope.of(context)
    let now = today()
    try Refusals.check(Self.decisionRefusals(request.decision, field: "decision", today: now))
    let hasManager = request.responsibleManager.personID != 0 || !request.responsibleManager.idNumber.isEmpty
    var audited = request
    audited.person = redacted(request.person)
    audited.responsibleManager = redacted(request.responsibleManager)
    let caller = Principal.caller(context)
    let ids = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: audited, target: "bans"
    ) { tx -> Tuoyu_Workforce_V1_BanPersonResponse in
      let person = try await person(tx, request.person, scope, forUpdate: true)
      var response = Tuoyu_Workforce_V1_BanPersonResponse()
      response.ban.banID = try await ban(tx, person, request.decision, responsibleFor: nil, by: caller.subject, on: now)
      if hasManager {
        let manager = try await self.person(
          tx, request.responsibleManager, field: "responsible_manager", scope, forUpdate: true)
        guard manager != person else {
          throw Refusal.invalid(
            "responsible_manager", rule: "ban.manager-other-person", "the responsible manager is another person")
        }
        response.managerBan.banID = try await ban(
          tx, manager, request.decision, responsibleFor: response.ban.banID, by: caller.subject, on: now)
      }
      return response
    }
    return try await pool.withConnection { db in
      var response = Tuoyu_Workforce_V1_BanPersonResponse()
      response.ban = try await banView(db, ids.ban.banID, context)
      if ids.managerBan.banID != 0 { response.managerBan = try await banView(db, ids.managerBan.banID, context) }
      return response
    }
  }

  /// One ban in `tx`: recorded, the person's open employments ended, the events queued.
  func ban(
    _ tx: PostgresSession, _ person: Int64, _ d: Tuoyu_Workforce_V1_Decision, responsibleFor: Int64?, by: String,
    on day: LocalDate
  ) async throws -> Int64 {
    guard
      let id = try await WorkforceStore.insertBan(
        tx, person: person, d, decided: LocalDate(d.decidedOn)!, responsibleFor: responsibleFor, by: by)
    else {
      throw Refusal(
        .alreadyExists, rule: "ban.once-per-case", field: "decision.case_number",
        "this person is already banned under case \(quoted(d.caseNumber))")
    }
    var endedAt: [String] = []
    for employment in try await WorkforceStore.openEmployments(tx, person: person) {
      try await WorkforceStore.endEmployment(tx, employment, on: day, reason: "lifetime ban, case \(d.caseNumber)")
      let ended = try await WorkforceStore.employment(tx, employment)!
      endedAt.append(ended.creditCode)
      try Outbox.queue(tx, eventType: "employment.ended", subject: ended.name, event: Self.event(ended))
    }
    try Outbox.queue(
      tx, eventType: "person.banned", subject: "people/\(person)",
      event: Tuoyu_Workforce_V1_BanEvent.with {
        $0.banID = id
        $0.personID = person
        $0.caseNumber = d.caseNumber
        $0.authority = d.authority
        $0.decidedOn = LocalDate(d.decidedOn)!.description
        $0.endedAtCreditCodes = endedAt
        $0.responsibleForBanID = responsibleFor ?? 0
      })
    return id
  }

  static func decisionRefusals(_ d: Tuoyu_Workforce_V1_Decision, field: String, today: LocalDate) -> [Refusal] {
    var out: [Refusal] = []
    for (name, value) in [("case_number", d.caseNumber), ("authority", d.authority), ("reason", d.reason)]
    where value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
      out.append(.invalid("\(field).\(name)", rule: "decision.complete", "the decision's \(name) is required"))
    }
    if let r = BanRules.decisionDateRefusal(LocalDate(d.decidedOn), field: "\(field).decided_on", today: today) {
      out.append(r)
    }
    return out
  }

  /// The ban as the caller may see it, with the employments it ended.
  func banView(_ db: PostgresSession, _ id: Int64, _ context: ServerContext) async throws -> Tuoyu_Workforce_V1_Ban {
    guard let row = try await WorkforceStore.ban(db, id) else {
      throw Refusal(.notFound, rule: "ban.known", field: "ban_id", "no ban \(id)")
    }
    var ban = row.ban
    if Principal.caller(context).roles.contains(Self.identityRole) {
      ban.idNumber = try vault.reveal(keyID: row.keyID, sealed: row.sealed.bytes)
    }
    ban.endedEmployments = try await WorkforceStore.employments(db, person: ban.personID).filter {
      $0.endReason == "lifetime ban, case \(ban.decision.caseNumber)"
    }
    return ban
  }

  /// Records the decision that annuls a ban; it waits for a second officer's approval, and the
  /// ban stands meanwhile.
  public func requestAnnulment(
    request: Tuoyu_Workforce_V1_RequestAnnulmentRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_Ban {
    let now = today()
    try Refusals.check(Self.decisionRefusals(request.decision, field: "decision", today: now))
    let caller = Principal.caller(context)
    _ = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "bans/\(request.banID)"
    ) { tx -> Tuoyu_Workforce_V1_Ban in
      guard let row = try await WorkforceStore.ban(tx, request.banID, lock: true) else {
        throw Refusal(.notFound, rule: "ban.known", field: "ban_id", "no ban \(request.banID)")
      }
      if let refusal = BanRules.requestRefusal(status: row.status) { throw refusal }
      try await WorkforceStore.recordAnnulment(
        tx, request.banID, request.decision, decided: LocalDate(request.decision.decidedOn)!, by: caller.subject)
      try Outbox.queue(
        tx, eventType: "ban.annulment-requested", subject: "bans/\(request.banID)",
        event: Tuoyu_Workforce_V1_BanEvent.with {
          $0.banID = request.banID
          $0.personID = row.ban.personID
          $0.caseNumber = request.decision.caseNumber
          $0.authority = request.decision.authority
          $0.decidedOn = LocalDate(request.decision.decidedOn)!.description
        })
      return .with { $0.banID = request.banID }
    }
    return try await pool.withConnection { try await banView($0, request.banID, context) }
  }

  /// Approves a recorded annulment: by another officer than the one who recorded it.
  public func approveAnnulment(
    request: Tuoyu_Workforce_V1_ApproveAnnulmentRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_Ban {
    let caller = Principal.caller(context)
    _ = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "bans/\(request.banID)"
    ) { tx -> Tuoyu_Workforce_V1_Ban in
      guard let row = try await WorkforceStore.ban(tx, request.banID, lock: true) else {
        throw Refusal(.notFound, rule: "ban.known", field: "ban_id", "no ban \(request.banID)")
      }
      if let refusal = BanRules.approvalRefusal(
        status: row.status, recorder: row.ban.annulmentRecordedBy, approver: caller.subject)
      {
        throw refusal
      }
      try await WorkforceStore.approveAnnulment(tx, request.banID, by: caller.subject)
      try Outbox.queue(
        tx, eventType: "ban.annulled", subject: "bans/\(request.banID)",
        event: Tuoyu_Workforce_V1_BanEvent.with {
          $0.banID = request.banID
          $0.personID = row.ban.personID
          $0.caseNumber = row.ban.annulment.caseNumber
          $0.authority = row.ban.annulment.authority
          $0.decidedOn = LocalDate(row.ban.annulment.decidedOn)?.description ?? ""
        })
      return .with { $0.banID = request.banID }
    }
    return try await pool.withConnection { try await banView($0, request.banID, context) }
  }

  public func listBans(
    request: Tuoyu_Workforce_V1_ListBansRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_ListBansResponse {
    let size = try PageToken.size(request.pageSize)
    let filters = "\(request.includeAnnulled)"
    let afterText = try PageToken.read(request.pageToken, filters: filters)
    let after = Int64(afterText) ?? 0
    let reveal = Principal.caller(context).roles.contains(Self.identityRole)
    let rows = try await pool.withConnection {
      try await WorkforceStore.bans($0, includeAnnulled: request.includeAnnulled, after: after, limit: size + 1)
    }
    return try .with {
      $0.bans = try rows.prefix(size).map { row in
        var ban = row.ban
        if reveal { ban.idNumber = try vault.reveal(keyID: row.keyID, sealed: row.sealed.bytes) }
        return ban
      }
      if rows.count > size, let last = rows.prefix(size).last {
        $0.nextPageToken = PageToken.make(after: String(last.ban.banID), filters: filters)
      }
    }
  }

  /// Eligibility: the ID number in, eligible or not out, nothing else — not whether the person is
  /// known, not why. A malformed number is refused without quoting it. Every check is on the
  /// audit trail (the person by id, or "unknown"; the number itself never).
  public func checkEligibility(
    request: Tuoyu_Workforce_V1_CheckEligibilityRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_CheckEligibilityResponse {
    if let refusal = Identity.refusal(request.idNumber, today: today()) { throw refusal }
    let hashes = hashes(request.idNumber)
    let caller = Principal.caller(context)
    let method = context.descriptor.path
    // The audit digest is of the current key's hash (as `tag` is), never of the number.
    let digest = PostgresBytes(Array(("#" + hashes[0].prefix(24)).utf8))
    let banned: Bool
    if let pair = WorkforceStore.hashPair(hashes) {
      banned = try await pool.withConnection {
        try await WorkforceStore.checkEligibility($0, hashes: pair, caller: caller, method: method, digest: digest)
      }
    } else {
      // Mid-rotation (three keys or more): the lookup, then the audit row, in one transaction.
      banned = try await pool.withTransaction { tx in
        let person = try await WorkforceStore.personID(tx, hashes: hashes, lock: false)
        let banned = if let person { try await WorkforceStore.banned(tx, person) } else { false }
        try await Mutation.audit(
          tx, caller, method, person.map { "people/\($0)" } ?? "people/unknown", "", request: digest,
          outcome: banned ? "OK: not eligible" : "OK: eligible")
        return banned
      }
    }
    return .with { $0.eligible = !banned }
  }
}
