import API
import InspectionAPI
import Postgres
import RPC
import RegistryView
import ServiceKit

extension InspectionService {
  /// An institution's credit grade on a day (default today) from the 12 months before it.
  public func getGrade(
    request: Tuoyu_Inspection_V1_GetGradeRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_Grade {
    let asOf = try day(request.asOf, field: "as_of")
    return try await pool.withConnection { db in
      guard let inst = try await RegistryView.institution(db, request.creditCode) else {
        throw Refusal(
          .notFound, rule: "institution.known", field: "credit_code", "no institution \(request.creditCode)")
      }
      try require(region: inst.county, context)
      return try await grades(db, [inst], on: asOf)[0]
    }
  }

  /// The grades of every filed (or suspended) institution of a county or the city on a day.
  public func listGrades(
    request: Tuoyu_Inspection_V1_ListGradesRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_ListGradesResponse {
    let asOf = try day(request.asOf, field: "as_of")
    try require(region: request.regionCode, context, field: "region_code")
    return try await pool.withConnection { db in
      let all = try await RegistryView.all(
        db, counties: RegistryView.counties(of: request.regionCode), statuses: ["filed", "suspended"])
      var response = Tuoyu_Inspection_V1_ListGradesResponse()
      response.grades = try await grades(db, all, on: asOf)
      return response
    }
  }

  /// Queues `grade.computed` with an institution's grade as of today (in the transaction of the
  /// change that moved it): the registry's public listing follows it.
  func publishGrade(_ tx: PostgresSession, creditCode: String) async throws {
    guard let inst = try await RegistryView.institution(tx, creditCode) else { return }
    let g = try await grades(tx, [inst], on: today())[0]
    try Outbox.queue(
      tx, eventType: "grade.computed", subject: "institutions/\(creditCode)",
      event: Tuoyu_Inspection_V1_GradeEvent.with {
        $0.creditCode = creditCode
        $0.grade = g.grade
        $0.score = g.score
        $0.asOf = LocalDate(g.asOf)?.description ?? ""
      })
  }

  /// Grades in two statements however many institutions: failures of the window, orders overdue.
  func grades(
    _ db: PostgresSession, _ institutions: [RegistryView.Institution], on day: LocalDate
  ) async throws
    -> [Tuoyu_Inspection_V1_Grade]
  {
    let rules = try await InspectionStore.creditRules(db)
    let (failures, orders) = try await InspectionStore.gradeInputs(
      db, codes: institutions.map(\.creditCode), from: CreditRules.windowStart(day), through: day)
    return institutions.map { inst in
      let overdue = (orders[inst.creditCode] ?? []).filter {
        OrderLifecycle.overdue(status: $0.status, deadline: $0.deadline, reportedOn: $0.reportedOn, asOf: day)
      }.count
      let e = rules.evaluate(failures: failures[inst.creditCode] ?? [], overdueOrders: overdue)
      return .with {
        $0.creditCode = inst.creditCode
        $0.institutionName = inst.name
        $0.countyCode = inst.county
        $0.asOf = day.proto
        $0.score = Int32(e.score)
        $0.grade = e.grade
        $0.minorFailures = Int32(clamping: e.failures[.minor] ?? 0)
        $0.majorFailures = Int32(clamping: e.failures[.major] ?? 0)
        $0.criticalFailures = Int32(clamping: e.failures[.critical] ?? 0)
        $0.overdueOrders = Int32(clamping: e.overdueOrders)
        $0.rulesVersion = Int32(clamping: rules.version)
      }
    }
  }
}
