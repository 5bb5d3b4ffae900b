import ServiceKit

/// The annual inspection plan per level (三级联动): each filed institution inspected at least as
/// often a year as the plan says for each level; coverage per county.
public enum PlanRules {
  public enum Level: String, Sendable, Hashable, CaseIterable {
    case city, county, township
  }

  /// Which institutions fall short of the plan: `required` inspections a year per level, `done` the
  /// finalised inspections per institution and level in the year. Returns the shortfall per
  /// institution (only those short).
  public static func shortfall(
    required: [Level: Int], done: [String: [Level: Int]], institutions: [String]
  ) -> [String: [Level: Int]] {
    var out: [String: [Level: Int]] = [:]
    for code in institutions {
      for (level, n) in required where n > 0 {
        let have = done[code]?[level] ?? 0
        if have < n { out[code, default: [:]][level] = n - have }
      }
    }
    return out
  }

  /// Coverage in per mille: institutions meeting the plan at every level over all of them.
  public static func coveragePermille(institutions: Int, short: Int) -> Int {
    institutions == 0 ? 1000 : (institutions - min(short, institutions)) * 1000 / institutions
  }
}
