import API
import Foundation
import Postgres
import RPC
import RegistryAPI
import ServiceKit
import SwiftProtobuf

public typealias Registry = Tuoyu_Registry_V1_Registry

/// `tuoyu.registry.v1.Registry`: regions, the rule pack, institutions and their filing lifecycle,
/// queries (also as of a past day), public disclosure, indicators and bulk import. One file per
/// resource: Institutions, Regions, RuleValues, Indicators, Import.
public struct RegistryService: Registry.ServiceProtocol {
  let pool: PostgresPool
  /// The rule pack, read again only when its version moves.
  let rules = RulePackCache()
  /// Today in China; a parameter so tests can pin it.
  let today: @Sendable () -> LocalDate

  public init(pool: PostgresPool, today: @escaping @Sendable () -> LocalDate = { LocalDate.today() }) {
    self.pool = pool
    self.today = today
  }

  // MARK: Roles

  /// Who may call what. Reads are open to every registry role, leaders, auditors and other
  /// services; the public disclosure needs no token.
  public static var policy: AccessPolicy {
    var p = AccessPolicy()
    let M = Registry.Method.self
    let readers = Set<String>([
      "registry.viewer", "registry.officer", "registry.approver", "registry.admin", "registration",
    ]).union(Roles.crossServiceReaders)
    for m in [
      M.getRegion, M.listRegions, M.getInstitution, M.listInstitutions, M.listInstitutionHistory,
      M.listRuleValues, M.getIndicators, M.listCalendarDays,
    ] {
      p.allow(m, roles: readers)
    }
    p.allow(M.registerInstitution, roles: ["registration", "registry.admin"])
    for m in [M.submitFiling, M.changeFiling, M.closeInstitution] { p.allow(m, roles: ["registry.officer"]) }
    for m in [M.fileInstitution, M.refuseFiling, M.suspendInstitution, M.reinstateInstitution, M.revokeInstitution] {
      p.allow(m, roles: ["registry.approver"])
    }
    for m in [M.putRegion, M.putRuleValue, M.putCalendarDay, M.importInstitutions] {
      p.allow(m, roles: ["registry.admin"])
    }
    p.publicMethods.insert(M.listPublicInstitutions.path)
    return p
  }

  // MARK: Shared checks

  func effectiveDate(_ d: Tuoyu_Common_V1_Date) throws(Refusal) -> LocalDate {
    let now = today()
    if d == Tuoyu_Common_V1_Date() { return now }
    guard let date = LocalDate(d) else {
      throw Refusal.invalid(
        "effective_date", rule: "effective-date.valid", "\(d.year)-\(d.month)-\(d.day) is not a date")
    }
    if date > now {
      throw Refusal.invalid("effective_date", rule: "effective-date.not-future", "\(date) is in the future")
    }
    return date
  }

  func asOfDay(_ d: Tuoyu_Common_V1_Date) throws(Refusal) -> LocalDate? {
    if d == Tuoyu_Common_V1_Date() { return nil }
    guard let day = LocalDate(d) else {
      throw Refusal.invalid("as_of", rule: "as-of.valid", "\(d.year)-\(d.month)-\(d.day) is not a date")
    }
    return day
  }

  func knownRegion(_ code: String, field: String = "region_code") async throws {
    _ = try await pool.withConnection { try await knownRegion($0, code, field: field) }
  }

  /// The level of a region that must exist ("" for no region).
  func knownRegion(_ db: PostgresSession, _ code: String, field: String = "region_code") async throws -> String {
    if code.isEmpty { return "" }
    guard let found = try await RegistryStore.region(db, code) else {
      throw Refusal.invalid(field, rule: "region.known", "unknown region \(quoted(code))")
    }
    return found.level
  }

  static func creditCode(_ code: String) throws(Refusal) {
    if let refusal = Registration.creditCodeRefusal(code) { throw refusal }
  }

  /// Runs a lifecycle action on an existing institution: idempotent and audited, the transition
  /// checked, `change` applied to the next version, the event on the feed.
  /// A decision (file, refuse) after the filing's due date needs `lateReason`; it is kept with
  /// the decision's reasons.
  func act(
    _ action: Lifecycle.Action, code: String, requestID: String, request: some SwiftProtobuf.Message,
    date: Tuoyu_Common_V1_Date, lateReason: String = "", context: ServerContext,
    _ change: (inout Institution, PostgresSession, LocalDate) async throws -> Void
  ) async throws -> Institution {
    try Self.creditCode(code)
    let day = try effectiveDate(date)
    return try await Mutation.run(
      pool, context: context, requestID: requestID, request: request, target: "institutions/\(code)"
    ) { tx in
      let previous = try await RegistryStore.current(tx, code)
      var inst = previous
      inst.status = try Lifecycle.next(from: inst.status, action)
      inst.effectiveDate = day.proto
      let due = LocalDate(previous.decisionDue)
      inst.decisionDue = .init()
      try await change(&inst, tx, day)
      if action == .file || action == .refuse, let due, day > due {
        let reason = lateReason.trimmingCharacters(in: .whitespaces)
        guard !reason.isEmpty else {
          throw Refusal.precondition(
            "filing.late-decision-reason",
            "the decision was due by \(due) and \(day) is after it: say why it is late (late_reason)",
            field: "late_reason")
        }
        inst.reasons.append("decided after the due date \(due): \(reason)")
      }
      return try await RegistryStore.append(tx, inst, event: action, by: Principal.caller(context), after: previous)
    }
  }
}
