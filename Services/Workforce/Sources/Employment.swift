import API
import Postgres
import RPC
import RegistryView
import ServiceKit
import WorkforceAPI

extension WorkforceService {
  /// Hires a person at an institution the registry has filed (or whose filing is submitted), as
  /// this service's view of the registry says: refused for a banned person, a caregiver without
  /// completed pre-job training, a manager without a college diploma and 3 years of experience.
  public func hireStaff(
    request: Tuoyu_Workforce_V1_HireStaffRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_Employment {
    let scope = try Scope.of(context)
    let start = try day(request.startDate, field: "start_date")
    var audited = request
    audited.person = redacted(request.person)
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: audited,
      target: "institutions/\(request.creditCode)"
    ) { tx in
      let (employment, _) = try await hire(
        tx, request.person, creditCode: request.creditCode, role: request.role, start: start, scope: scope)
      return employment
    }
  }

  /// One hire in `tx` (HireStaff and the import): the person locked, so a concurrent ban either
  /// sees this employment and ends it, or comes first and refuses it. Returns whether an identical
  /// open employment was already there (nothing changed).
  func hire(
    _ tx: PostgresSession, _ ref: Tuoyu_Workforce_V1_PersonRef, creditCode: String,
    role: Tuoyu_Workforce_V1_StaffRole, start: LocalDate, scope: Scope, personField: String = "person"
  ) async throws -> (Tuoyu_Workforce_V1_Employment, unchanged: Bool) {
    let institution = try await WorkforceStore.institution(tx, creditCode)
    if let institution {
      try scope.require(creditCode: creditCode, county: institution.county)
    } else if case .institution(let own) = scope, own != creditCode {
      try scope.require(creditCode: creditCode, county: "")
    }
    // An employer hires a person it names by ID number (from the hiring papers): they need not be
    // its staff yet. By person_id it reaches only its own staff.
    let personScope: Scope = if case .institution = scope, !ref.idNumber.isEmpty { .all } else { scope }
    let id = try await person(tx, ref, field: personField, personScope, forUpdate: true)
    if let open = try await WorkforceStore.openEmployment(
      tx, person: id, creditCode: creditCode, role: Int32(role.rawValue))
    {
      return (open, true)
    }
    let row = try await WorkforceStore.personRow(tx, id)
    let candidate = Hiring.Candidate(
      role: role, banned: try await WorkforceStore.banned(tx, id), birthDate: row.birth,
      education: .init(rawValue: Int(row.education)) ?? .unspecified, experienceYears: Int(row.experience),
      preJobCompletedOn: role == .caregiver ? try await WorkforceStore.preJobCompleted(tx, id) : nil)
    try Refusals.check(
      Hiring.refusals(
        candidate, institutionStatus: institution?.status, creditCode: creditCode, start: start, today: today()))
    let county = institution?.county ?? ""
    let employmentID = try await WorkforceStore.insertEmployment(
      tx, person: id, creditCode: creditCode, county: county, role: Int32(role.rawValue), start: start)
    try Outbox.queue(
      tx, eventType: "employment.started", subject: "employments/\(employmentID)",
      event: Tuoyu_Workforce_V1_EmploymentEvent.with {
        $0.employmentID = employmentID
        $0.personID = id
        $0.creditCode = creditCode
        $0.role = Self.roleName(role)
        $0.startDate = start.description
      })
    return (try await WorkforceStore.employment(tx, employmentID)!, false)
  }

  public func endEmployment(
    request: Tuoyu_Workforce_V1_EndEmploymentRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_Employment {
    let scope = try Scope.of(context)
    let end = try day(request.endDate, field: "end_date")
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request,
      target: "employments/\(request.employmentID)"
    ) { tx in
      guard let e = try await WorkforceStore.employment(tx, request.employmentID, lock: true),
        scope.covers(creditCode: e.creditCode, county: e.countyCode)
      else {
        throw Refusal(.notFound, rule: "employment.known", field: "employment_id", "no such employment")
      }
      guard e.endDate == Tuoyu_Common_V1_Date() else {
        throw Refusal.precondition("employment.open", "the employment already ended on \(LocalDate(e.endDate)!)")
      }
      let start = LocalDate(e.startDate)!
      guard end >= start else {
        throw Refusal.invalid("end_date", rule: "employment.end-after-start", "\(end) is before the start, \(start)")
      }
      try await WorkforceStore.endEmployment(tx, e.employmentID, on: end, reason: request.reason)
      let ended = try await WorkforceStore.employment(tx, e.employmentID)!
      try Outbox.queue(
        tx, eventType: "employment.ended", subject: ended.name, event: Self.event(ended))
      return ended
    }
  }

  public func listStaff(
    request: Tuoyu_Workforce_V1_ListStaffRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_ListStaffResponse {
    let scope = try Scope.of(context)
    let size = try PageToken.size(request.pageSize)
    let filters = "\(request.creditCode)|\(request.regionCode)|\(request.includeEnded)"
    let afterText = try PageToken.read(request.pageToken, filters: filters)
    let after = afterText.isEmpty ? 0 : (Int64(afterText) ?? 0)
    var code: String? = request.creditCode.isEmpty ? nil : request.creditCode
    var range: ClosedRange<String>? = request.regionCode.isEmpty ? nil : RegistryView.counties(of: request.regionCode)
    switch scope {
    case .institution(let own):
      if let c = code, c != own { try scope.require(creditCode: c, county: "") }
      code = own
    case .region(let r):
      if !request.regionCode.isEmpty && !scope.covers(region: request.regionCode) {
        throw Refusal(
          .permissionDenied, rule: "access.scope", field: "region_code",
          "region \(request.regionCode) is outside your region \(r)")
      }
      if range == nil { range = RegistryView.counties(of: r) }
    case .all: break
    }
    let now = today()
    let page = try await pool.withConnection { db in
      if let c = code, case .region = scope {
        let county = try await WorkforceStore.institution(db, c)?.county ?? ""
        try scope.require(creditCode: c, county: county)
      }
      return try await WorkforceStore.staff(
        db, creditCode: code, counties: range, includeEnded: request.includeEnded, on: now, after: after,
        limit: size + 1)
    }
    return .with {
      $0.employments = Array(page.prefix(size))
      if page.count > size, let last = page.prefix(size).last {
        $0.nextPageToken = PageToken.make(after: String(last.employmentID), filters: filters)
      }
    }
  }

  static func roleName(_ r: Tuoyu_Workforce_V1_StaffRole) -> String {
    switch r {
    case .caregiver: "caregiver"
    case .healthWorker: "health-worker"
    case .cook: "cook"
    case .security: "security"
    case .manager: "manager"
    default: "unspecified"
    }
  }

  static func event(_ e: Tuoyu_Workforce_V1_Employment) -> Tuoyu_Workforce_V1_EmploymentEvent {
    .with {
      $0.employmentID = e.employmentID
      $0.personID = e.personID
      $0.creditCode = e.creditCode
      $0.role = roleName(e.role)
      $0.startDate = LocalDate(e.startDate)?.description ?? ""
      $0.endDate = LocalDate(e.endDate)?.description ?? ""
      $0.endReason = e.endReason
    }
  }
}
