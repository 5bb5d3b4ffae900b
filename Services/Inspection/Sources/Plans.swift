import API
import InspectionAPI
import Postgres
import RPC
import RegistryView
import ServiceKit

extension InspectionService {
  /// Sets how many finalised inspections a year each filed institution gets at a level.
  public func putPlan(
    request: Tuoyu_Inspection_V1_PutPlanRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_PlanEntry {
    let e = request.entry
    guard e.level != .unspecified, e.year != 0 else {
      throw Refusal.invalid("entry", rule: "plan.entry", "a plan entry names its year and level")
    }
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "plans/\(e.year)"
    ) { tx in
      try await tx.query(
        """
        INSERT INTO plan (year, level, inspections_per_year) VALUES (\(e.year), \(Int32(e.level.rawValue)), \(e.inspectionsPerYear))
        ON CONFLICT (year, level) DO UPDATE SET inspections_per_year = EXCLUDED.inspections_per_year
        """)
      return e
    }
  }

  /// How far the year's plan is met: per county the filed institutions and those inspected as
  /// often as planned at every level, and each shortfall.
  public func getCoverage(
    request: Tuoyu_Inspection_V1_GetCoverageRequest, context: ServerContext
  ) async throws -> Tuoyu_Inspection_V1_GetCoverageResponse {
    try require(region: request.regionCode, context, field: "region_code")
    return try await pool.withConnection { db in
      var required: [PlanRules.Level: Int] = [:]
      var plan: [Tuoyu_Inspection_V1_PlanEntry] = []
      for row in try await db.query(
        "SELECT level, inspections_per_year FROM plan WHERE year = \(request.year) ORDER BY level")
      {
        let (level, n) = try row.decode((Int32, Int32).self)
        let l = Tuoyu_Inspection_V1_Level(rawValue: Int(level)) ?? .unspecified
        plan.append(
          .with {
            $0.year = request.year
            $0.level = l
            $0.inspectionsPerYear = n
          })
        if let pl = Self.planLevel(l) { required[pl] = Int(n) }
      }
      let institutions = try await RegistryView.all(
        db, counties: RegistryView.counties(of: request.regionCode), statuses: ["filed"])
      var done: [String: [PlanRules.Level: Int]] = [:]
      for row in try await db.query(
        """
        SELECT credit_code, level, count(*) FROM inspection
        WHERE finalised AND credit_code = ANY(\(institutions.map(\.creditCode)))
          AND inspected_on BETWEEN make_date(\(request.year), 1, 1) AND make_date(\(request.year), 12, 31)
        GROUP BY credit_code, level
        """)
      {
        let (code, level, n) = try row.decode((String, Int32, Int64).self)
        if let l = Self.planLevel(.init(rawValue: Int(level)) ?? .unspecified) { done[code, default: [:]][l] = Int(n) }
      }
      let short = PlanRules.shortfall(required: required, done: done, institutions: institutions.map(\.creditCode))
      let byCounty = Dictionary(grouping: institutions, by: \.county)
      var response = Tuoyu_Inspection_V1_GetCoverageResponse()
      response.plan = plan
      for (county, list) in byCounty.sorted(by: { $0.key < $1.key }) {
        let shortHere = list.filter { short[$0.creditCode] != nil }.count
        response.counties.append(
          .with {
            $0.countyCode = county
            $0.institutions = Int32(clamping: list.count)
            $0.covered = Int32(clamping: list.count - shortHere)
            $0.coveragePermille = Int32(
              clamping: PlanRules.coveragePermille(institutions: list.count, short: shortHere))
          })
      }
      for inst in institutions {
        for (level, missing) in (short[inst.creditCode] ?? [:]).sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
          response.shortfalls.append(
            .with {
              $0.creditCode = inst.creditCode
              $0.institutionName = inst.name
              $0.countyCode = inst.county
              $0.level = Self.protoLevel(level)
              $0.missing = Int32(clamping: missing)
            })
        }
      }
      return response
    }
  }

  static func planLevel(_ l: Tuoyu_Inspection_V1_Level) -> PlanRules.Level? {
    switch l {
    case .city: .city
    case .county: .county
    case .township: .township
    default: nil
    }
  }

  static func protoLevel(_ l: PlanRules.Level) -> Tuoyu_Inspection_V1_Level {
    switch l {
    case .city: .city
    case .county: .county
    case .township: .township
    }
  }
}
