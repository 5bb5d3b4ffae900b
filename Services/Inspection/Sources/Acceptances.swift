import API
import InspectionAPI
import Postgres
import RPC
import RegistryView
import ServiceKit

extension InspectionService {
  /// The county accepts new 普惠 seats at an institution for a year's task, on a finalised
  /// acceptance evaluation of it: the institution filed and 普惠, and a seat accepted at most once.
  public func acceptSeats(
    request: Tuoyu_Inspection_V1_AcceptSeatsRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_Acceptance {
    let by = Principal.caller(context).subject
    let id = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request,
      target: "inspections/\(request.inspectionID)"
    ) { tx -> Tuoyu_Inspection_V1_Acceptance in
      guard let inspection = try await InspectionStore.inspection(tx, request.inspectionID) else {
        throw Refusal(
          .notFound, rule: "inspection.known", field: "inspection_id", "no inspection \(request.inspectionID)")
      }
      try require(region: inspection.countyCode, context, field: "inspection_id")
      guard inspection.kind == .acceptanceEvaluation, inspection.finalised else {
        throw Refusal.precondition(
          "acceptance.evaluation", "seats are accepted on a finalised acceptance evaluation (评估验收) inspection",
          field: "inspection_id")
      }
      guard let inst = try await RegistryView.institution(tx, inspection.creditCode) else {
        throw Refusal(
          .notFound, rule: "institution.known", field: "inspection_id", "the registry has no such institution")
      }
      guard inst.inclusive else {
        throw Refusal.precondition(
          "acceptance.inclusive",
          "\(inst.creditCode) is not 普惠 in the registry: only 普惠 seats are accepted for the task",
          field: "inspection_id")
      }
      let before = try await InspectionStore.seatsAccepted(tx, creditCode: inst.creditCode)
      if let refusal = AcceptanceRules.countyRefusal(
        seats: Int(request.seats), inclusiveSeats: inst.seats, alreadyAccepted: before,
        filed: inst.status == "filed")
      {
        throw refusal
      }
      let rows = try await tx.query(
        """
        INSERT INTO acceptance (year, credit_code, institution_name, county_code, inspection_id, accepted_seats, accepted_by)
        VALUES (\(request.year), \(inst.creditCode), \(inst.name), \(inst.county), \(request.inspectionID), \(request.seats),
          \(by))
        ON CONFLICT (inspection_id) DO NOTHING RETURNING acceptance_id
        """)
      guard let id = try rows.first?.decode(Int64.self, at: 0) else {
        throw Refusal(
          .alreadyExists, rule: "acceptance.once-per-evaluation", field: "inspection_id",
          "seats were already accepted on inspection \(request.inspectionID)")
      }
      return .with { $0.acceptanceID = id }
    }.acceptanceID
    return try await pool.withConnection { try await InspectionStore.acceptance($0, id, lock: false)! }
  }

  /// The city reviews (复核): confirms the county's figure or adjusts it down with a reason (kept
  /// with the acceptance and on the audit trail). `acceptance.confirmed` is what the subsidy pays.
  public func confirmAcceptance(
    request: Tuoyu_Inspection_V1_ConfirmAcceptanceRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_Acceptance {
    let by = Principal.caller(context).subject
    _ = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request,
      target: "acceptances/\(request.acceptanceID)"
    ) { tx -> Tuoyu_Inspection_V1_Acceptance in
      guard let a = try await InspectionStore.acceptance(tx, request.acceptanceID, lock: true) else {
        throw Refusal(
          .notFound, rule: "acceptance.known", field: "acceptance_id", "no acceptance \(request.acceptanceID)")
      }
      try require(region: a.countyCode, context, field: "acceptance_id")
      guard a.status == .countyAccepted else {
        throw Refusal.precondition("acceptance.confirm-once", "the city has already confirmed this acceptance")
      }
      if let refusal = AcceptanceRules.cityRefusal(
        accepted: Int(a.acceptedSeats), confirmed: Int(request.confirmedSeats), reason: request.reason)
      {
        throw refusal
      }
      try await tx.query(
        """
        UPDATE acceptance SET status = 'city-confirmed', confirmed_seats = \(request.confirmedSeats),
          adjustment_reason = \(request.reason), confirmed_by = \(by)
        WHERE acceptance_id = \(request.acceptanceID)
        """)
      try Outbox.queue(
        tx, eventType: "acceptance.confirmed", subject: "acceptances/\(request.acceptanceID)",
        event: Tuoyu_Inspection_V1_AcceptanceEvent.with {
          $0.acceptanceID = request.acceptanceID
          $0.year = a.year
          $0.creditCode = a.creditCode
          $0.countyCode = a.countyCode
          $0.confirmedSeats = request.confirmedSeats
        })
      return .with { $0.acceptanceID = request.acceptanceID }
    }
    return try await pool.withConnection {
      try await InspectionStore.acceptance($0, request.acceptanceID, lock: false)!
    }
  }

  public func listAcceptances(
    request: Tuoyu_Inspection_V1_ListAcceptancesRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_ListAcceptancesResponse {
    var region = request.regionCode
    if let own = Principal.caller(context).region, !own.isEmpty, region.isEmpty { region = own }
    if !region.isEmpty { try require(region: region, context, field: "region_code") }
    let list = try await pool.withConnection {
      try await InspectionStore.acceptances(
        $0, year: request.year, counties: region.isEmpty ? nil : RegistryView.counties(of: region))
    }
    return .with { $0.acceptances = list }
  }
}
