import API
import Postgres
import ServiceKit
import WorkforceAPI

extension WorkforceStore {
  struct BanRow: Sendable {
    var ban: Tuoyu_Workforce_V1_Ban
    var status: BanRules.Status
    var keyID: String
    var sealed: PostgresBytes
  }

  static let banSelect = """
    SELECT b.ban_id, b.person_id, p.display_name, p.id_masked, b.case_number, b.authority, b.decided_on, b.reason,
      coalesce(b.responsible_for, 0), b.status, b.recorded_by, coalesce(b.annul_case_number, ''),
      coalesce(b.annul_authority, ''), b.annul_decided_on, coalesce(b.annul_reason, ''),
      coalesce(b.annul_recorded_by, ''), coalesce(b.annul_approved_by, ''), p.id_key, p.id_sealed
    FROM ban b JOIN person p USING (person_id)
    """

  static func ban(from row: PostgresRow) throws -> BanRow {
    let (id, person, name, masked, caseNumber, authority, decided, reason, responsible, status) = try row.decode(
      (Int64, Int64, String, String, String, String, LocalDate, String, Int64, String).self)
    let (by, aCase, aAuthority, aDecided, aReason, aBy, aApprover, key, sealed) = try (
      row.decode(String.self, at: 10), row.decode(String.self, at: 11), row.decode(String.self, at: 12),
      row.decode(LocalDate?.self, at: 13), row.decode(String.self, at: 14), row.decode(String.self, at: 15),
      row.decode(String.self, at: 16), row.decode(String.self, at: 17), row.decode(PostgresBytes.self, at: 18)
    )
    let s = BanRules.Status(rawValue: status) ?? .active
    let ban = Tuoyu_Workforce_V1_Ban.with {
      $0.banID = id
      $0.personID = person
      $0.personName = name
      $0.idNumber = masked
      $0.decision.caseNumber = caseNumber
      $0.decision.authority = authority
      $0.decision.decidedOn = decided.proto
      $0.decision.reason = reason
      $0.responsibleForBanID = responsible
      $0.status =
        switch s {
        case .active: .active
        case .annulmentPending: .annulmentPending
        case .annulled: .annulled
        }
      $0.recordedBy = by
      if !aCase.isEmpty {
        $0.annulment.caseNumber = aCase
        $0.annulment.authority = aAuthority
        if let aDecided { $0.annulment.decidedOn = aDecided.proto }
        $0.annulment.reason = aReason
      }
      $0.annulmentRecordedBy = aBy
      $0.annulmentApprovedBy = aApprover
    }
    return BanRow(ban: ban, status: s, keyID: key, sealed: sealed)
  }

  static func ban(_ tx: PostgresSession, _ id: Int64, lock: Bool = false) async throws -> BanRow? {
    let q = PostgresQuery(
      unsafeSQL: banSelect + " WHERE b.ban_id = $1" + (lock ? " FOR UPDATE OF b" : ""), binds: [.init(id)])
    return try await tx.query(q).first.map(ban(from:))
  }

  static func bans(_ db: PostgresSession, includeAnnulled: Bool, after: Int64, limit: Int) async throws -> [BanRow] {
    try await db.query(
      PostgresQuery(
        unsafeSQL: banSelect + " WHERE ($1 OR b.status <> 'annulled') AND b.ban_id > $2 ORDER BY b.ban_id LIMIT $3",
        binds: [.init(includeAnnulled), .init(after), .init(Int64(limit))])
    ).map(ban(from:))
  }

  /// Inserts the ban; nil when the person is already banned under the same case number.
  static func insertBan(
    _ tx: PostgresSession, person: Int64, _ d: Tuoyu_Workforce_V1_Decision, decided: LocalDate,
    responsibleFor: Int64?, by: String
  ) async throws -> Int64? {
    try await tx.query(
      """
      INSERT INTO ban (person_id, case_number, authority, decided_on, reason, responsible_for, recorded_by)
      VALUES (\(person), \(d.caseNumber), \(d.authority), \(decided), \(d.reason), \(responsibleFor), \(by))
      ON CONFLICT (person_id, case_number) DO NOTHING RETURNING ban_id
      """
    ).first?.decode(Int64.self, at: 0)
  }

  static func recordAnnulment(
    _ tx: PostgresSession, _ id: Int64, _ d: Tuoyu_Workforce_V1_Decision, decided: LocalDate, by: String
  ) async throws {
    try await tx.query(
      """
      UPDATE ban SET status = 'annulment-pending', annul_case_number = \(d.caseNumber),
        annul_authority = \(d.authority), annul_decided_on = \(decided), annul_reason = \(d.reason),
        annul_recorded_by = \(by)
      WHERE ban_id = \(id) AND status = 'active'
      """)
  }

  static func approveAnnulment(_ tx: PostgresSession, _ id: Int64, by: String) async throws {
    try await tx.query(
      """
      UPDATE ban SET status = 'annulled', annul_approved_by = \(by), annulled_at = now()
      WHERE ban_id = \(id) AND status = 'annulment-pending'
      """)
  }
}
