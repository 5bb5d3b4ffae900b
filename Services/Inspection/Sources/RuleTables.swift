import API
import InspectionAPI
import Postgres
import RPC
import ServiceKit

extension InspectionService {
  /// Sets the rectification deadlines for inspections from a day on (a new row; earlier
  /// inspections' orders keep the deadlines they were given).
  public func putDeadlineRules(
    request: Tuoyu_Inspection_V1_PutDeadlineRulesRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_DeadlineRules {
    let r = request.rules
    guard let from = LocalDate(r.effectiveFrom) else {
      throw Refusal.invalid("rules.effective_from", rule: "rules.effective-from", "a valid first day is required")
    }
    guard r.criticalDays >= 1, r.criticalDays <= r.majorDays, r.majorDays <= r.minorDays else {
      throw Refusal.invalid(
        "rules", rule: "rules.deadline-order",
        "a graver failure is rectified sooner: critical ≤ major ≤ minor days, each at least 1")
    }
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "rules/deadlines"
    ) { tx in
      try await tx.query(
        """
        INSERT INTO deadline_rule (effective_from, critical_days, major_days, minor_days)
        VALUES (\(from), \(r.criticalDays), \(r.majorDays), \(r.minorDays))
        ON CONFLICT (effective_from) DO UPDATE SET critical_days = EXCLUDED.critical_days,
          major_days = EXCLUDED.major_days, minor_days = EXCLUDED.minor_days
        """)
      return r
    }
  }

  /// Publishes the next version of the credit rules (weights and bands); grades use the latest.
  public func putCreditRules(
    request: Tuoyu_Inspection_V1_PutCreditRulesRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_CreditRules {
    let r = request.rules
    var problems: [Refusal] = []
    if !(r.aFrom > r.bFrom && r.bFrom > r.cFrom && r.cFrom >= 1) {
      problems.append(.invalid("rules", rule: "rules.bands", "the bands descend: a_from > b_from > c_from ≥ 1"))
    }
    if !["A", "B", "C", "D"].contains(r.criticalCap) {
      problems.append(.invalid("rules.critical_cap", rule: "rules.critical-cap", "the cap is a grade, A to D"))
    }
    if !(r.minorPoints <= r.majorPoints && r.majorPoints <= r.criticalPoints) {
      problems.append(
        .invalid("rules", rule: "rules.weights", "a graver failure weighs at least as much: minor ≤ major ≤ critical"))
    }
    try Refusals.check(problems)
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "rules/credit"
    ) { tx in
      try await tx.query("LOCK TABLE credit_rule IN EXCLUSIVE MODE")
      let version = try await tx.query("SELECT coalesce(max(version), 0) + 1 FROM credit_rule")[0].decode(
        Int32.self, at: 0)
      try await tx.query(
        """
        INSERT INTO credit_rule (version, minor_points, major_points, critical_points, overdue_points, a_from, b_from,
          c_from, critical_cap)
        VALUES (\(version), \(r.minorPoints), \(r.majorPoints), \(r.criticalPoints), \(r.overduePoints), \(r.aFrom),
          \(r.bFrom), \(r.cFrom), \(r.criticalCap))
        """)
      var stored = r
      stored.version = version
      return stored
    }
  }
}
