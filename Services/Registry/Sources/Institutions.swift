import API
import Foundation
import Postgres
import RPC
import RegistryAPI
import ServiceKit
import SwiftProtobuf

extension RegistryService {
  // MARK: Lifecycle

  public func registerInstitution(
    request: Tuoyu_Registry_V1_RegisterInstitutionRequest, context: ServerContext
  ) async throws -> Institution {
    let day = try effectiveDate(request.effectiveDate)
    let problems = Registration.check(
      creditCode: request.creditCode, name: request.displayName, nature: request.legalNature,
      authority: request.registrationAuthority)
    let code = request.creditCode
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "institutions/\(code)"
    ) { tx in
      let ctx = try await RegistryStore.filingContext(
        tx, township: request.facts.townshipCode, date: day, rules: rules, creditCode: code)
      try Refusals.check(problems + FilingRules.location(request.facts, ctx))
      var inst = Registration.firstVersion(
        creditCode: code, name: request.displayName, nature: request.legalNature,
        authority: request.registrationAuthority, facts: request.facts, county: ctx.county, day: day)
      inst.warnings = Registration.regionWarnings(
        creditCode: code, authority: request.registrationAuthority, township: request.facts.townshipCode, ctx)
      return try await RegistryStore.append(tx, inst, event: .register, by: Principal.caller(context), after: nil)
    }
  }

  public func submitFiling(
    request: Tuoyu_Registry_V1_SubmitFilingRequest, context: ServerContext
  ) async throws -> Institution {
    try await act(
      .submitFiling, code: request.creditCode, requestID: request.requestID, request: request,
      date: request.effectiveDate, context: context
    ) { inst, tx, day in
      let ctx = try await RegistryStore.filingContext(
        tx, township: request.facts.townshipCode, date: day, rules: rules, creditCode: inst.creditCode)
      try Refusals.check(
        FilingRules.facts(request.facts, ctx)
          + FilingRules.materials(request.materials, servesMeals: request.facts.servesMeals, day: day))
      inst.facts = request.facts
      inst.materials = request.materials
      inst.countyCode = ctx.county ?? ""
      inst.warnings = Registration.regionWarnings(
        creditCode: inst.creditCode, authority: inst.registrationAuthority, township: request.facts.townshipCode, ctx)
      inst.reasons = []
      // The health department decides within 5 working days (holidays and make-up working days
      // from the calendar).
      let calendar = try await RegistryStore.calendar(tx, after: day, through: day.adding(days: 60))
      inst.decisionDue = day.adding(workingDays: 5, calendar: calendar).proto
    }
  }

  public func fileInstitution(
    request: Tuoyu_Registry_V1_FileInstitutionRequest, context: ServerContext
  ) async throws -> Institution {
    try await act(
      .file, code: request.creditCode, requestID: request.requestID, request: request,
      date: request.effectiveDate, lateReason: request.lateReason, context: context
    ) { inst, tx, day in
      // Checked again on the day of filing: the rules or the county's average fee may have moved.
      let ctx = try await RegistryStore.filingContext(tx, township: inst.facts.townshipCode, date: day, rules: rules)
      try Refusals.check(
        FilingRules.facts(inst.facts, ctx)
          + FilingRules.materials(inst.materials, servesMeals: inst.facts.servesMeals, day: day))
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
      date: request.effectiveDate, lateReason: request.lateReason, context: context
    ) { inst, _, _ in inst.reasons = reasons }
  }

  public func changeFiling(
    request: Tuoyu_Registry_V1_ChangeFilingRequest, context: ServerContext
  ) async throws -> Institution {
    try await act(
      .change, code: request.creditCode, requestID: request.requestID, request: request,
      date: request.effectiveDate, context: context
    ) { inst, tx, day in
      // `inst` is the next version, prepared from the current one.
      let current = inst.version
      if request.expectedVersion != 0 && request.expectedVersion != current {
        throw RPCError(
          code: .aborted,
          message:
            "\(request.creditCode) changed since version \(request.expectedVersion) was read (it is at version \(current) now); read it again and apply the change again (rule filing-change.expected-version)"
        )
      }
      let ctx = try await RegistryStore.filingContext(
        tx, township: request.facts.townshipCode, date: day, rules: rules, creditCode: inst.creditCode)
      try Refusals.check(FilingRules.facts(request.facts, ctx))
      var proposed = request.facts
      proposed.seats.total = try FilingRules.storedTotal(proposed.seats)
      guard proposed != inst.facts else {
        throw Refusal.precondition("filing-change.changes-something", "the change is the same as what is filed")
      }
      inst.facts = request.facts
      inst.countyCode = ctx.county ?? ""
      inst.warnings = Registration.regionWarnings(
        creditCode: inst.creditCode, authority: inst.registrationAuthority, township: request.facts.townshipCode, ctx)
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

  // MARK: Reads

  public func getInstitution(
    request: Tuoyu_Registry_V1_GetInstitutionRequest, context: ServerContext
  ) async throws -> Institution {
    try await getInstitutionEncoded(request: request, context: context).message()
  }

  /// The stored encoding of the version asked for, sent as it is.
  public func getInstitutionEncoded(
    request: Tuoyu_Registry_V1_GetInstitutionRequest, context: ServerContext
  ) async throws -> EncodedResponse<Institution> {
    try Self.creditCode(request.creditCode)
    let day = try asOfDay(request.asOf)
    let body = try await pool.withConnection { db in
      guard let day else { return try await RegistryStore.currentBody(db, request.creditCode) }
      guard let body = try await RegistryStore.asOf(db, request.creditCode, day: day) else {
        throw Refusal(
          .notFound, rule: "institution.exists", field: "credit_code",
          "no institution with credit code \(request.creditCode) existed on \(day)")
      }
      return body
    }
    return EncodedResponse(encoding: body)
  }

  public func listInstitutions(
    request: Tuoyu_Registry_V1_ListInstitutionsRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ListInstitutionsResponse {
    try await listInstitutionsEncoded(request: request, context: context).message()
  }

  /// The page assembled from the stored encodings (field 1, `institutions`) and the next page's
  /// token (field 2), without decoding a single institution.
  public func listInstitutionsEncoded(
    request: Tuoyu_Registry_V1_ListInstitutionsRequest, context: ServerContext
  ) async throws -> EncodedResponse<Tuoyu_Registry_V1_ListInstitutionsResponse> {
    let size = try PageToken.size(request.pageSize)
    let day = try asOfDay(request.asOf)
    // Several statuses or modes mean any of them (the single field and the list together).
    let statuses = Set(([request.status] + request.statuses).filter { $0 != .unspecified }).map(Lifecycle.name).sorted()
    let modes = Set(([request.mode] + request.modes).filter { $0 != .unspecified }).map { Int32($0.rawValue) }.sorted()
    let filters =
      "\(request.regionCode)|\(modes.map(String.init).joined(separator: ","))|\(statuses.joined(separator: ","))|\(request.inclusiveOnly)|\(day?.description ?? "")"
    let after = try PageToken.read(request.pageToken, filters: filters)
    let found = try await pool.withConnection { db in
      let level = try await knownRegion(db, request.regionCode)
      return try await RegistryStore.institutionBodies(
        db, regionCode: request.regionCode, regionLevel: level, modes: modes, statuses: statuses,
        inclusiveOnly: request.inclusiveOnly, day: day, after: after, limit: size + 1)
    }
    let page = found.prefix(size)
    var out = EncodedMessageWriter(capacity: page.reduce(64) { $0 + $1.body.count + 4 })
    for item in page { out.appendLengthDelimited(field: Self.listInstitutionsField, item.body) }
    if found.count > size, let last = page.last {
      out.appendString(field: Self.listNextPageTokenField, PageToken.make(after: last.code, filters: filters))
    }
    return EncodedResponse(encoding: out.bytes)
  }

  /// Field numbers of `ListInstitutionsResponse` (tested against swift-protobuf's own encoding).
  public static let listInstitutionsField = 1
  public static let listNextPageTokenField = 2

  public func listInstitutionHistory(
    request: Tuoyu_Registry_V1_ListInstitutionHistoryRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ListInstitutionHistoryResponse {
    try Self.creditCode(request.creditCode)
    let asOf = try asOfDay(request.asOf)
    let versions = try await pool.withConnection { try await RegistryStore.history($0, request.creditCode, asOf: asOf) }
    if versions.isEmpty { throw RegistryStore.notFound(request.creditCode) }
    var response = Tuoyu_Registry_V1_ListInstitutionHistoryResponse()
    response.versions = versions
    return response
  }

  public func listPublicInstitutions(
    request: Tuoyu_Registry_V1_ListPublicInstitutionsRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ListPublicInstitutionsResponse {
    let size = try PageToken.size(request.pageSize)
    let filters = "public|\(request.regionCode)"
    let after = try PageToken.read(request.pageToken, filters: filters)
    let (found, grades) = try await pool.withConnection { db in
      let level = try await knownRegion(db, request.regionCode)
      let found = try await RegistryStore.institutions(
        db, regionCode: request.regionCode, regionLevel: level, modes: [], statuses: ["filed"], inclusiveOnly: false,
        day: nil, after: after,
        limit: size + 1)
      return (found, try await RegistryStore.grades(db, found.prefix(size).map(\.creditCode)))
    }
    var response = Tuoyu_Registry_V1_ListPublicInstitutionsResponse()
    for inst in found.prefix(size) {
      response.institutions.append(
        .with {
          $0.displayName = inst.displayName
          $0.filingNumber = inst.filingNumber
          $0.address = Disclosure.publicAddress(inst.facts)
          $0.countyCode = inst.countyCode
          $0.townshipCode = inst.facts.townshipCode
          $0.mode = inst.facts.mode
          $0.inclusive = inst.facts.inclusive
          $0.seats = inst.facts.seats.total
          $0.feeBand = Disclosure.feeBand(inst.facts.monthlyFee.fen)
          $0.latestGrade = grades[inst.creditCode] ?? ""
        })
    }
    if found.count > size, let last = found.prefix(size).last {
      response.nextPageToken = PageToken.make(after: last.creditCode, filters: filters)
    }
    return response
  }
}
