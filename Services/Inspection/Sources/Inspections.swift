import API
import InspectionAPI
import Postgres
import RPC
import RegistryView
import ServiceKit

extension InspectionService {
  /// Records an inspection (a draft until finalised) on the latest checklist: of an institution
  /// the registry knows, at a level the caller inspects at, on a day not in the future, with
  /// results for items of that checklist.
  public func recordInspection(
    request: Tuoyu_Inspection_V1_RecordInspectionRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_Inspection {
    let caller = Principal.caller(context)
    guard let role = Self.inspectorRole[request.level], caller.roles.contains(role) else {
      throw Refusal(
        .permissionDenied, rule: "inspection.level-role",
        "a \(String(describing: request.level)) inspection is recorded by \(Self.inspectorRole[request.level] ?? "-")")
    }
    let on = try day(request.inspectedOn, field: "inspected_on")
    if request.inspectors.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
      throw Refusal.invalid("inspectors", rule: "inspection.inspectors", "name the inspectors (at least one)")
    }
    let id = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request,
      target: "institutions/\(request.creditCode)"
    ) { tx -> Tuoyu_Inspection_V1_Inspection in
      guard let inst = try await RegistryView.institution(tx, request.creditCode) else {
        throw Refusal(
          .notFound, rule: "inspection.institution-known", field: "credit_code",
          "the registry has no institution \(request.creditCode)")
      }
      try require(region: inst.county, context)
      if request.correctsInspectionID != 0 {
        guard let earlier = try await InspectionStore.inspection(tx, request.correctsInspectionID),
          earlier.finalised, earlier.creditCode == request.creditCode
        else {
          throw Refusal.invalid(
            "corrects_inspection_id", rule: "inspection.corrects",
            "a correction names a finalised inspection of the same institution")
        }
      }
      guard let checklist = try await InspectionStore.checklist(tx, version: 0) else {
        throw Refusal.precondition("checklist.published", "no checklist is published")
      }
      let results = try Self.resolved(request.results, checklist)
      let id = try await InspectionStore.insertInspection(
        tx, request, name: inst.name, county: inst.county, on: on, version: checklist.version, by: caller.subject)
      InspectionStore.putResults(tx, id, results)
      return .with { $0.inspectionID = id }
    }.inspectionID
    return try await pool.withConnection { try await InspectionStore.inspection($0, id)! }
  }

  /// Results checked against the checklist, each failure given its item's severity.
  static func resolved(
    _ results: [Tuoyu_Inspection_V1_ItemResult], _ checklist: Tuoyu_Inspection_V1_Checklist
  ) throws
    -> [Tuoyu_Inspection_V1_ItemResult]
  {
    let items = Dictionary(uniqueKeysWithValues: checklist.items.map { ($0.code, $0) })
    var seen = Set<String>()
    var problems: [Refusal] = []
    var out: [Tuoyu_Inspection_V1_ItemResult] = []
    for (i, r) in results.enumerated() {
      guard let item = items[r.code] else {
        problems.append(
          .invalid(
            "results[\(i)].code", rule: "inspection.item-known",
            "\(quoted(r.code)) is not an item of checklist version \(checklist.version)"))
        continue
      }
      if !seen.insert(r.code).inserted {
        problems.append(
          .invalid("results[\(i)].code", rule: "inspection.item-once", "\(quoted(r.code)) is given twice"))
      }
      var resolved = r
      resolved.severity = r.outcome == .fail ? item.severity : .unspecified
      out.append(resolved)
    }
    try Refusals.check(problems)
    return out
  }

  public func recordResults(
    request: Tuoyu_Inspection_V1_RecordResultsRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_Inspection {
    _ = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request,
      target: "inspections/\(request.inspectionID)"
    ) { tx -> Tuoyu_Inspection_V1_Inspection in
      let inspection = try await draft(tx, request.inspectionID, context)
      guard let checklist = try await InspectionStore.checklist(tx, version: inspection.checklistVersion) else {
        throw Refusal.precondition("checklist.published", "the inspection's checklist is gone")
      }
      InspectionStore.putResults(tx, inspection.inspectionID, try Self.resolved(request.results, checklist))
      return .with { $0.inspectionID = inspection.inspectionID }
    }
    return try await pool.withConnection { try await InspectionStore.inspection($0, request.inspectionID)! }
  }

  /// A draft inspection the caller may change, locked.
  func draft(
    _ tx: PostgresSession, _ id: Int64, _ context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_Inspection {
    guard let inspection = try await InspectionStore.inspection(tx, id, lock: true) else {
      throw Refusal(.notFound, rule: "inspection.known", field: "inspection_id", "no inspection \(id)")
    }
    try require(region: inspection.countyCode, context, field: "inspection_id")
    guard !inspection.finalised else {
      throw Refusal.precondition(
        "inspection.finalised", "inspection \(id) is finalised: it never changes (record a correction instead)",
        field: "inspection_id")
    }
    guard Principal.caller(context).roles.contains(Self.inspectorRole[inspection.level] ?? "") else {
      throw Refusal(.permissionDenied, rule: "inspection.level-role", "this inspection is another level's")
    }
    return inspection
  }

  /// Finalises: every item has a result; each failure gets a rectification order due by its
  /// severity's deadline; `inspection.finalised` goes on the feed (a critical failure makes the
  /// registry suspend the institution).
  public func finaliseInspection(
    request: Tuoyu_Inspection_V1_FinaliseInspectionRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_Inspection {
    _ = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request,
      target: "inspections/\(request.inspectionID)"
    ) { tx -> Tuoyu_Inspection_V1_Inspection in
      let inspection = try await draft(tx, request.inspectionID, context)
      let checklist = try await InspectionStore.checklist(tx, version: inspection.checklistVersion)!
      let done = Set(inspection.results.map(\.code))
      let missing = checklist.items.map(\.code).filter { !done.contains($0) }
      guard missing.isEmpty else {
        throw Refusal.precondition(
          "inspection.complete",
          "\(missing.count) items have no result: \(missing.prefix(10).joined(separator: ", "))\(missing.count > 10 ? ", …" : "")"
        )
      }
      let on = LocalDate(inspection.inspectedOn)!
      let rules = DeadlineRules.inForce(try await InspectionStore.deadlineRules(tx), on: on) ?? .standard
      var counts: [Severity: Int32] = [:]
      for r in inspection.results where r.outcome == .fail {
        guard let s = Self.severity(r.severity) else { continue }
        counts[s, default: 0] += 1
        InspectionStore.insertOrder(
          tx, inspection: inspection, item: r.code, severity: Int32(r.severity.rawValue),
          deadline: rules.deadline(s, inspected: on))
      }
      try await InspectionStore.finalise(
        tx, inspection.inspectionID, minor: counts[.minor] ?? 0, major: counts[.major] ?? 0,
        critical: counts[.critical] ?? 0)
      try Outbox.queue(
        tx, eventType: "inspection.finalised", subject: "inspections/\(inspection.inspectionID)",
        event: Tuoyu_Inspection_V1_InspectionEvent.with {
          $0.inspectionID = inspection.inspectionID
          $0.creditCode = inspection.creditCode
          $0.inspectedOn = on.description
          $0.minorFailures = counts[.minor] ?? 0
          $0.majorFailures = counts[.major] ?? 0
          $0.criticalFailures = counts[.critical] ?? 0
        })
      try await publishGrade(tx, creditCode: inspection.creditCode)
      return .with { $0.inspectionID = inspection.inspectionID }
    }
    return try await pool.withConnection { try await InspectionStore.inspection($0, request.inspectionID)! }
  }

  public func getInspection(
    request: Tuoyu_Inspection_V1_GetInspectionRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_Inspection {
    guard let i = try await pool.withConnection({ try await InspectionStore.inspection($0, request.inspectionID) })
    else {
      throw Refusal(
        .notFound, rule: "inspection.known", field: "inspection_id", "no inspection \(request.inspectionID)")
    }
    try require(region: i.countyCode, context, field: "inspection_id")
    return i
  }

  public func listInspections(
    request: Tuoyu_Inspection_V1_ListInspectionsRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_ListInspectionsResponse {
    let size = try PageToken.size(request.pageSize)
    let filters = "\(request.creditCode)|\(request.regionCode)|\(request.year)"
    let after = Int64(try PageToken.read(request.pageToken, filters: filters)) ?? 0
    var region = request.regionCode
    if let own = Principal.caller(context).region, !own.isEmpty {
      if region.isEmpty { region = own }
      guard RegistryView.counties(of: own).contains(region) || region == own else {
        throw Refusal(.permissionDenied, rule: "access.scope", field: "region_code", "outside your region \(own)")
      }
    }
    let page = try await pool.withConnection {
      try await InspectionStore.inspections(
        $0, creditCode: request.creditCode, counties: region.isEmpty ? nil : RegistryView.counties(of: region),
        year: request.year, after: after, limit: size + 1)
    }
    return .with {
      $0.inspections = Array(page.prefix(size))
      if page.count > size, let last = page.prefix(size).last {
        $0.nextPageToken = PageToken.make(after: String(last.inspectionID), filters: filters)
      }
    }
  }
}
