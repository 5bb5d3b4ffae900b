import API
import RegistryAPI
import Foundation
import Postgres
import RPC
import ServiceKit
import SwiftProtobuf

public typealias Registry = Tuoyu_Registry_V1_Registry

/// `tuoyu.registry.v1.Registry`: regions, the rule pack, institutions and their filing lifecycle,
/// queries (also as of a past day), public disclosure, indicators and bulk import.
public struct RegistryService: Registry.ServiceProtocol {
  let pool: PostgresPool
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
    let readers: Set<String> = [
      "registry.viewer", "registry.officer", "registry.approver", "registry.admin", "registration", "leader",
      "service", "auditor",
    ]
    for m in [
      M.getRegion, M.listRegions, M.getInstitution, M.listInstitutions, M.listInstitutionHistory,
      M.listRuleValues, M.getIndicators,
    ] {
      p.allow(m, roles: readers)
    }
    p.allow(M.registerInstitution, roles: ["registration", "registry.admin"])
    for m in [M.submitFiling, M.changeFiling, M.closeInstitution] { p.allow(m, roles: ["registry.officer"]) }
    for m in [M.fileInstitution, M.refuseFiling, M.suspendInstitution, M.reinstateInstitution, M.revokeInstitution] {
      p.allow(m, roles: ["registry.approver"])
    }
    for m in [M.putRegion, M.putRuleValue, M.importInstitutions] { p.allow(m, roles: ["registry.admin"]) }
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

  /// What registering an institution needs from the registration authority.
  static func registration(
    creditCode: String, name: String, nature: Tuoyu_Registry_V1_LegalNature, authority: String
  ) -> [Refusal] {
    var problems = creditCodeRefusal(creditCode).map { [$0] } ?? []
    if name.trimmingCharacters(in: .whitespaces).isEmpty {
      problems.append(.invalid("display_name", rule: "institution.name", "a name is required"))
    }
    if !(1...2).contains(nature.rawValue) {
      problems.append(.invalid("legal_nature", rule: "institution.legal-nature", "non-profit or for-profit"))
    }
    if authority.trimmingCharacters(in: .whitespaces).isEmpty {
      problems.append(
        .invalid(
          "registration_authority", rule: "institution.registration-authority",
          "the registration authority is required"))
    }
    return problems
  }

  /// A new institution as registered: status REGISTERED, the facts given so far.
  static func registered(
    creditCode: String, name: String, nature: Tuoyu_Registry_V1_LegalNature, authority: String,
    facts: FilingFacts, county: String?, day: LocalDate
  ) -> Institution {
    .with {
      $0.creditCode = creditCode
      $0.displayName = name
      $0.legalNature = nature
      $0.registrationAuthority = authority
      $0.status = .registered
      $0.facts = facts
      $0.countyCode = county ?? ""
      $0.effectiveDate = day.proto
    }
  }

  static func creditCodeRefusal(_ code: String) -> Refusal? {
    CreditCode.problem(code).map {
      Refusal.invalid("credit_code", rule: "credit-code.gb32100", "\(quoted(code, max: 24)): \($0)")
    }
  }

  static func creditCode(_ code: String) throws(Refusal) {
    if let refusal = creditCodeRefusal(code) { throw refusal }
  }

  /// Runs a lifecycle action on an existing institution: idempotent and audited, the transition
  /// checked, `change` applied to the next version, the event on the feed.
  func act(
    _ action: Lifecycle.Action, code: String, requestID: String, request: some SwiftProtobuf.Message,
    date: Tuoyu_Common_V1_Date, context: ServerContext,
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
      inst.decisionDue = .init()
      try await change(&inst, tx, day)
      return try await RegistryStore.append(tx, inst, event: action, by: Caller.of(context), after: previous)
    }
  }

  // MARK: Institutions: lifecycle

  public func registerInstitution(
    request: Tuoyu_Registry_V1_RegisterInstitutionRequest, context: ServerContext
  ) async throws -> Institution {
    let day = try effectiveDate(request.effectiveDate)
    let problems = Self.registration(
      creditCode: request.creditCode, name: request.displayName, nature: request.legalNature,
      authority: request.registrationAuthority)
    let code = request.creditCode
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "institutions/\(code)"
    ) { tx in
      let ctx = try await RegistryStore.filingContext(tx, township: request.facts.townshipCode, date: day)
      try Refusals.check(problems + FilingRules.location(request.facts, ctx))
      let inst = Self.registered(
        creditCode: code, name: request.displayName, nature: request.legalNature,
        authority: request.registrationAuthority, facts: request.facts, county: ctx.county, day: day)
      return try await RegistryStore.append(tx, inst, event: .register, by: Caller.of(context), after: nil)
    }
  }

  public func submitFiling(
    request: Tuoyu_Registry_V1_SubmitFilingRequest, context: ServerContext
  ) async throws -> Institution {
    try await act(
      .submitFiling, code: request.creditCode, requestID: request.requestID, request: request,
      date: request.effectiveDate, context: context
    ) { inst, tx, day in
      let ctx = try await RegistryStore.filingContext(tx, township: request.facts.townshipCode, date: day)
      try Refusals.check(
        FilingRules.facts(request.facts, ctx)
          + FilingRules.materials(request.materials, servesMeals: request.facts.servesMeals))
      inst.facts = request.facts
      inst.countyCode = ctx.county ?? ""
      inst.reasons = []
      // The health department decides within 5 working days.
      inst.decisionDue = day.adding(workingDays: 5).proto
    }
  }

  public func fileInstitution(
    request: Tuoyu_Registry_V1_FileInstitutionRequest, context: ServerContext
  ) async throws -> Institution {
    try await act(
      .file, code: request.creditCode, requestID: request.requestID, request: request,
      date: request.effectiveDate, context: context
    ) { inst, tx, day in
      // Checked again on the day of filing: the rules or the county's average fee may have moved.
      let ctx = try await RegistryStore.filingContext(tx, township: inst.facts.townshipCode, date: day)
      try Refusals.check(FilingRules.facts(inst.facts, ctx))
      if inst.filingNumber.isEmpty {
        inst.filingNumber = try await RegistryStore.nextFilingNumber(tx, county: inst.countyCode, year: day.year)
      }
    }
  }

  public func refuseFiling(
    request: Tuoyu_Registry_V1_RefuseFilingRequest, context: ServerContext
  ) async throws -> Institution {
    let reasons = request.reasons.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    guard !reasons.isEmpty else {
      throw Refusal.invalid("reasons", rule: "filing.refusal-reasons", "a refusal names its reasons")
    }
    return try await act(
      .refuse, code: request.creditCode, requestID: request.requestID, request: request,
      date: request.effectiveDate, context: context
    ) { inst, _, _ in inst.reasons = reasons }
  }

  public func changeFiling(
    request: Tuoyu_Registry_V1_ChangeFilingRequest, context: ServerContext
  ) async throws -> Institution {
    try await act(
      .change, code: request.creditCode, requestID: request.requestID, request: request,
      date: request.effectiveDate, context: context
    ) { inst, tx, day in
      let ctx = try await RegistryStore.filingContext(tx, township: request.facts.townshipCode, date: day)
      try Refusals.check(FilingRules.facts(request.facts, ctx))
      var proposed = request.facts
      proposed.seats.total = try FilingRules.storedTotal(proposed.seats)
      guard proposed != inst.facts else {
        throw Refusal.precondition("filing-change.changes-something", "the change is the same as what is filed")
      }
      inst.facts = request.facts
      inst.countyCode = ctx.county ?? ""
      inst.reasons = request.reason.isEmpty ? [] : [request.reason]
    }
  }

  func simple(
    _ action: Lifecycle.Action, _ request: Tuoyu_Registry_V1_InstitutionActionRequest, _ context: ServerContext
  )
    async throws -> Institution
  {
    let reason = request.reason.trimmingCharacters(in: .whitespaces)
    if action != .reinstate, reason.isEmpty {
      throw Refusal.invalid(
        "reason", rule: "lifecycle.reason-required", "say why the institution is \(action.rawValue)")
    }
    return try await act(
      action, code: request.creditCode, requestID: request.requestID, request: request,
      date: request.effectiveDate, context: context
    ) { inst, _, _ in inst.reasons = reason.isEmpty ? [] : [reason] }
  }

  public func suspendInstitution(
    request: Tuoyu_Registry_V1_InstitutionActionRequest, context: ServerContext
  ) async throws -> Institution { try await simple(.suspend, request, context) }

  public func reinstateInstitution(
    request: Tuoyu_Registry_V1_InstitutionActionRequest, context: ServerContext
  ) async throws -> Institution { try await simple(.reinstate, request, context) }

  public func revokeInstitution(
    request: Tuoyu_Registry_V1_InstitutionActionRequest, context: ServerContext
  ) async throws -> Institution { try await simple(.revoke, request, context) }

  public func closeInstitution(
    request: Tuoyu_Registry_V1_InstitutionActionRequest, context: ServerContext
  ) async throws -> Institution { try await simple(.close, request, context) }
}
