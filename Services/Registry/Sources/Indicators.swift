import API
import Postgres
import RPC
import RegistryAPI
import ServiceKit

extension RegistryService {
  /// Year-end indicators of the city (or a county) and each county under it, from what was
  /// filed (status FILED; suspended, revoked and closed institutions do not count) on 31 December.
  public func getIndicators(
    request: Tuoyu_Registry_V1_GetIndicatorsRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_GetIndicatorsResponse {
    guard (1949...2200).contains(request.year), let day = LocalDate(year: Int(request.year), month: 12, day: 31) else {
      throw Refusal.invalid("year", rule: "indicators.year", "a year 1949–2200")
    }
    return try await pool.withConnection { db in
      var rootCode = request.regionCode
      if rootCode.isEmpty {
        let cities = try await RegistryStore.cityCodes(db)
        guard cities.count == 1 else {
          throw Refusal.invalid(
            "region_code", rule: "indicators.region", "name the city or county (\(cities.count) cities known)")
        }
        rootCode = cities[0]
      }
      guard let root = try await RegistryStore.region(db, rootCode) else {
        throw Refusal.invalid("region_code", rule: "region.known", "unknown region \(quoted(rootCode))")
      }
      guard root.level != "township" else {
        throw Refusal.invalid("region_code", rule: "indicators.region", "indicators are per city or county")
      }
      let tree = try await RegistryStore.regionTree(db, root: root.code, year: request.year)
      let filed = try await RegistryStore.filedByTownship(db, on: day)
      let rootFigures =
        tree.first { $0.code == root.code }
        ?? IndicatorRules.Region(code: root.code, name: root.name, level: root.level, parent: root.parent)
      let rows = try IndicatorRules.rollUp(root: rootFigures, tree: tree, filed: filed)
      return .with {
        $0.year = request.year
        $0.asOf = day.proto
        $0.regions = rows
      }
    }
  }
}
