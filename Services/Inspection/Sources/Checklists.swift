import API
import InspectionAPI
import Postgres
import RPC
import ServiceKit

extension InspectionService {
  /// Publishes the next checklist version: every item coded once, with its category and the
  /// severity a failure carries. Earlier inspections keep their version.
  public func publishChecklist(
    request: Tuoyu_Inspection_V1_PublishChecklistRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_Checklist {
    guard !request.items.isEmpty else {
      throw Refusal.invalid("items", rule: "checklist.items", "a checklist has at least one item")
    }
    var seen = Set<String>()
    for (i, item) in request.items.enumerated() where !seen.insert(item.code).inserted {
      throw Refusal.invalid(
        "items[\(i)].code", rule: "checklist.unique-code", "item \(quoted(item.code)) is listed twice")
    }
    let by = Principal.caller(context).subject
    let version = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "checklists"
    ) { tx in
      var published = Tuoyu_Inspection_V1_Checklist()
      published.version = try await InspectionStore.publish(tx, title: request.title, items: request.items, by: by)
      return published
    }.version
    return try await pool.withConnection { try await InspectionStore.checklist($0, version: version)! }
  }

  public func getChecklist(
    request: Tuoyu_Inspection_V1_GetChecklistRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_Checklist {
    guard let c = try await pool.withConnection({ try await InspectionStore.checklist($0, version: request.version) })
    else {
      throw Refusal(.notFound, rule: "checklist.known", field: "version", "no checklist version \(request.version)")
    }
    return c
  }
}
