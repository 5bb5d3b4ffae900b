import API
import Postgres
import RPC
import RegistryAPI
import ServiceKit

extension RegistryService {
  public func listRuleValues(
    request: Tuoyu_Registry_V1_ListRuleValuesRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ListRuleValuesResponse {
    let values = try await pool.withConnection { try await RegistryStore.ruleValues($0) }
    return .with { $0.values = values }
  }

  public func putRuleValue(
    request: Tuoyu_Registry_V1_PutRuleValueRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_RuleValue {
    let v = request.value
    var problems: [Refusal] = []
    if RulePack.Key(rawValue: v.key) == nil {
      let keys = RulePack.Key.allCases.map(\.rawValue).joined(separator: ", ")
      problems.append(.invalid("value.key", rule: "rules.known-key", "unknown rule \(quoted(v.key)); one of \(keys)"))
    }
    let from = LocalDate(v.effectiveFrom)
    if from == nil {
      problems.append(.invalid("value.effective_from", rule: "rules.effective-from", "a valid date is required"))
    }
    // A class size or carer ratio of 0 would divide by zero and a tenure of 0 means nothing:
    // every rule value is positive.
    if v.value < 1 { problems.append(.invalid("value.value", rule: "rules.positive", "a rule value is at least 1")) }
    try Refusals.check(problems)
    guard let from else { return v }
    if !v.regionCode.isEmpty { try await knownRegion(v.regionCode, field: "value.region_code") }
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "rules/\(v.key)"
    ) { tx in
      try await RegistryStore.putRuleValue(tx, v, from: from)
      try await Outbox.append(tx, eventType: "rules.put", subject: "rules/\(v.key)")
      return v
    }
  }
}
