import API
import Postgres
import RPC
import ServiceKit
import SubsidyAPI

extension SubsidyService {
  /// Puts the next version of the policy for a year and region (a county, the city, or every region).
  public func putPolicy(
    request: Tuoyu_Subsidy_V1_PutPolicyRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Policy {
    if !request.regionCode.isEmpty {
      try await requireKnown(region: request.regionCode, field: "region_code", county: false)
    }
    guard Int64(request.cityShare) + Int64(request.countyShare) > 0 else {
      throw Refusal.invalid("city_share", rule: "policy.shares", "the city's and the county's shares cannot both be 0")
    }
    let by = Principal.caller(context).subject
    let version = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request,
      target: "policies/\(request.year)/\(request.regionCode)"
    ) { tx -> Tuoyu_Subsidy_V1_Policy in
      // One writer per year and region at a time: the next version is the last + 1.
      try await tx.query(
        "SELECT pg_advisory_xact_lock(hashtext('policy/' || \(request.year) || '/' || \(request.regionCode)))")
      let rows = try await tx.query(
        """
        INSERT INTO policy (year, region_code, version, award_per_seat_fen, city_share, county_share,
          enrolment_monthly_fen, milk_monthly_fen, reason, put_by)
        SELECT \(request.year), \(request.regionCode), coalesce(max(version), 0) + 1, \(request.awardPerSeat.fen),
          \(request.cityShare), \(request.countyShare), \(request.enrolmentMonthly.fen), \(request.milkMonthly.fen),
          \(request.reason), \(by)
        FROM policy WHERE year = \(request.year) AND region_code = \(request.regionCode)
        RETURNING version
        """)
      return try .with { $0.version = try rows[0].decode(Int32.self, at: 0) }
    }.version
    var p = Tuoyu_Subsidy_V1_Policy()
    p.year = request.year
    p.regionCode = request.regionCode
    p.version = version
    p.awardPerSeat = request.awardPerSeat
    p.cityShare = request.cityShare
    p.countyShare = request.countyShare
    p.enrolmentMonthly = request.enrolmentMonthly
    p.milkMonthly = request.milkMonthly
    p.reason = request.reason
    p.putBy = by
    p.source = request.regionCode.isEmpty ? "all" : request.regionCode.hasSuffix("00") ? "city" : "county"
    return p
  }

  public func getPolicy(
    request: Tuoyu_Subsidy_V1_GetPolicyRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Policy {
    let t = try await pool.withConnection {
      try await SubsidyStore.terms($0, year: request.year, county: request.regionCode)
    }
    return .with {
      $0.year = request.year
      $0.regionCode = request.regionCode
      $0.version = t.version
      $0.awardPerSeat = Self.money(t.awardPerSeatFen)
      $0.cityShare = t.cityShare
      $0.countyShare = t.countyShare
      $0.enrolmentMonthly = Self.money(t.enrolmentMonthlyFen)
      $0.milkMonthly = Self.money(t.milkMonthlyFen)
      $0.source = t.source
    }
  }

  /// Sets a budget; never below what is already committed against it.
  public func putBudget(
    request: Tuoyu_Subsidy_V1_PutBudgetRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Budget {
    try await requireKnown(region: request.regionCode, field: "region_code", county: false)
    guard let programme = Self.programme(request.programme) else {
      throw Refusal.invalid("programme", rule: "programme.known", "name a programme")
    }
    let key = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request,
      target: "budgets/\(request.year)/\(request.regionCode)/\(programme.rawValue)"
    ) { tx -> Tuoyu_Subsidy_V1_Budget in
      let committed =
        try await tx.query(
          """
          SELECT committed_fen FROM budget
          WHERE year = \(request.year) AND region_code = \(request.regionCode) AND programme = \(programme.rawValue)
          FOR UPDATE
          """
        ).first.map { try $0.decode(Int64.self, at: 0) } ?? 0
      guard request.amount.fen >= committed else {
        throw Refusal.precondition(
          "budget.below-committed",
          "\(Yuan.string(committed)) yuan is already committed; the budget cannot be \(Yuan.string(request.amount.fen))",
          field: "amount")
      }
      try await tx.query(
        """
        INSERT INTO budget (year, region_code, programme, amount_fen)
        VALUES (\(request.year), \(request.regionCode), \(programme.rawValue), \(request.amount.fen))
        ON CONFLICT (year, region_code, programme) DO UPDATE SET amount_fen = EXCLUDED.amount_fen, updated_at = now()
        """)
      return .with {
        $0.year = request.year
        $0.regionCode = request.regionCode
        $0.programme = request.programme
      }
    }
    return try await pool.withConnection {
      try await SubsidyStore.budget($0, year: key.year, region: key.regionCode, programme: programme)!
    }
  }
}
