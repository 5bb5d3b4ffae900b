import API
import RegistryAPI
import ServiceKit

/// What a region put into the tree must be: its level, a code of the level's length (a township's
/// under its county's), a name, a parent unless it is the city, each year's figures once and
/// not negative. (That the parent exists and is one level up is checked against the tree.)
public enum RegionRules {
  /// The region's level ("city", "county", "township"; empty when none) and every problem.
  public static func check(_ request: Tuoyu_Registry_V1_PutRegionRequest) -> (level: String, problems: [Refusal]) {
    var problems: [Refusal] = []
    let level: String
    switch request.level {
    case .city: level = "city"
    case .county: level = "county"
    case .township: level = "township"
    default:
      level = ""
      problems.append(.invalid("level", rule: "region.level", "city, county or township"))
    }
    let digits = level == "township" ? 9 : 6
    if !FilingRules.isDigits(request.code, count: digits) {
      problems.append(
        .invalid("code", rule: "region.code", "a \(level.isEmpty ? "region" : level) code has \(digits) digits"))
    }
    if request.displayName.trimmingCharacters(in: .whitespaces).isEmpty {
      problems.append(.invalid("display_name", rule: "region.name", "a name is required"))
    }
    if (level == "city") != request.parentCode.isEmpty {
      problems.append(
        .invalid(
          "parent_code", rule: "region.parent", level == "city" ? "a city has no parent" : "a parent region is required"
        ))
    }
    if level == "township", !request.code.hasPrefix(request.parentCode) {
      problems.append(
        .invalid("code", rule: "region.township-prefix", "a township's code starts with its county's code"))
    }
    var seen = Set<Int32>()
    for (i, y) in request.years.enumerated() {
      if !(1949...2200).contains(y.year) || !seen.insert(y.year).inserted {
        problems.append(.invalid("years[\(i)].year", rule: "region.year", "a year 1949–2200, once"))
      }
      if y.population < 0 || y.seatTarget < 0 || y.averageMonthlyFee.fen < 0 {
        problems.append(.invalid("years[\(i)]", rule: "region.figures-non-negative", "figures cannot be negative"))
      }
    }
    return (level, problems)
  }
}
