import API
import InspectionAPI
import Postgres
import RPC
import RegistryView
import ServiceKit

extension InspectionService {
  /// Rectification orders of an institution or a region, each marked overdue as of the day asked.
  public func listOrders(
    request: Tuoyu_Inspection_V1_ListOrdersRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_ListOrdersResponse {
    let asOf = try day(request.asOf, field: "as_of", future: true)
    let caller = Principal.caller(context)
    var code = request.creditCode
    if let own = caller.institution, !own.isEmpty { code = own }
    var region = request.regionCode
    if let own = caller.region, !own.isEmpty, region.isEmpty { region = own }
    if !region.isEmpty { try require(region: region, context, field: "region_code") }
    let rows = try await pool.withConnection {
      try await InspectionStore.orders(
        $0, creditCode: code, counties: region.isEmpty ? nil : RegistryView.counties(of: region),
        includeVerified: request.includeVerified)
    }
    return .with {
      $0.orders = rows.compactMap { row in
        var o = row.order
        o.overdue = OrderLifecycle.overdue(
          status: row.status, deadline: row.deadline, reportedOn: row.reportedOn, asOf: asOf)
        return request.onlyOverdue && !o.overdue ? nil : o
      }
    }
  }

  /// The institution (its own token) or an inspector reports an order rectified.
  public func reportRectified(
    request: Tuoyu_Inspection_V1_OrderStepRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_Order {
    try await step(.report, request, context)
  }

  /// An inspector verifies a reported rectification; `order.verified` goes on the feed (the
  /// registry's approver may then reinstate a suspended institution).
  public func verifyRectification(
    request: Tuoyu_Inspection_V1_OrderStepRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_Order {
    try await step(.verify, request, context)
  }

  /// An inspector finds a reported rectification untrue: the order is open again.
  public func rejectRectification(
    request: Tuoyu_Inspection_V1_OrderStepRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_Order {
    try await step(.reject, request, context)
  }

  func step(
    _ step: OrderLifecycle.Step, _ request: Tuoyu_Inspection_V1_OrderStepRequest, _ context: ServerContext
  )
    async throws -> Tuoyu_Inspection_V1_Order
  {
    let on = try day(request.on, field: "on")
    let caller = Principal.caller(context)
    let id = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "orders/\(request.orderID)"
    ) { tx -> Tuoyu_Inspection_V1_Order in
      guard let row = try await InspectionStore.order(tx, request.orderID, lock: true),
        caller.institution.map({ $0.isEmpty || $0 == row.order.creditCode }) ?? true
      else {
        throw Refusal(.notFound, rule: "order.known", field: "order_id", "no order \(request.orderID)")
      }
      try require(region: row.order.countyCode, context, field: "order_id")
      let next: OrderStatus
      switch OrderLifecycle.next(row.status, step) {
      case .success(let s): next = s
      case .failure(let refusal): throw refusal
      }
      let inspected = try await InspectionStore.inspection(tx, row.order.inspectionID)!
      if on < LocalDate(inspected.inspectedOn)! {
        throw Refusal.invalid("on", rule: "order.date", "\(on) is before the inspection")
      }
      try await InspectionStore.step(tx, request.orderID, to: next, on: on, note: request.note)
      if next == .verified {
        try Outbox.queue(
          tx, eventType: "order.verified", subject: "orders/\(request.orderID)",
          event: Tuoyu_Inspection_V1_OrderEvent.with {
            $0.orderID = request.orderID
            $0.inspectionID = row.order.inspectionID
            $0.creditCode = row.order.creditCode
            $0.severity = Self.severity(row.order.severity)?.rawValue ?? ""
            $0.verifiedOn = on.description
          })
      }
      try await publishGrade(tx, creditCode: row.order.creditCode)
      return .with { $0.orderID = request.orderID }
    }.orderID
    let asOf = today()
    return try await pool.withConnection { db in
      let row = try await InspectionStore.order(db, id, lock: false)!
      var o = row.order
      o.overdue = OrderLifecycle.overdue(
        status: row.status, deadline: row.deadline, reportedOn: row.reportedOn, asOf: asOf)
      return o
    }
  }
}
