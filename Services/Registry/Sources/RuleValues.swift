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
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "rules/\(v.key)"
    ) { tx in
      if !v.regionCode.isEmpty, let key = RulePack.Key(rawValue: v.key) {
        let level = try await knownRegion(tx, v.regionCode, field: "value.region_code")
        guard level == "city" || level == "county" else {
          throw Refusal.invalid(
            "value.region_code", rule: "rules.local-region", "a local rule value is set by a city or a county")
        }
        let city = level == "county" ? try await RegistryStore.region(tx, v.regionCode)?.parent : nil
        // Against what is in force above it on its own date (read in this transaction).
        if let refusal = try await RegistryStore.rulePack(tx).looserThanAbove(
          key, value: Int(v.value), region: v.regionCode, city: city, on: from)
        {
          throw refusal
        }
      }
      try await RegistryStore.putRuleValue(tx, v, from: from)
      try await Outbox.append(tx, eventType: "rules.put", subject: "rules/\(v.key)", event: v)
      return v
    }
  }

  // MARK: The working-day calendar

  public func listCalendarDays(
    request: Tuoyu_Registry_V1_ListCalendarDaysRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ListCalendarDaysResponse {
    let days = try await pool.withConnection { try await RegistryStore.calendarDays($0, year: Int(request.year)) }
    return .with { $0.days = days }
  }

  public func putCalendarDay(
    request: Tuoyu_Registry_V1_PutCalendarDayRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_CalendarDay {
    let d = request.day
    guard let day = LocalDate(d.day) else {
      throw Refusal.invalid("day.day", rule: "calendar.day-valid", "a valid date is required")
    }
    let kind: String? =
      switch d.kind {
      case .holiday: "holiday"
      case .workday: "workday"
      default: nil
      }
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "calendar/\(day)"
    ) { tx in
      try await RegistryStore.putCalendarDay(tx, day, kind: kind, name: d.name, source: d.source)
      try Outbox.queue(tx, eventType: "calendar.put", subject: "calendar/\(day)", event: d)
      return d
    }
  }
}
