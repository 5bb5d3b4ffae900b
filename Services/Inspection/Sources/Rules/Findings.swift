import ServiceKit

/// What an inspection finds per checklist item (检查结果): pass, not applicable, or a failure of a
/// severity. The severity of a failure is the checklist item's, set when the checklist version was
/// published; an inspector records the result, not the weight.
public enum Severity: String, Sendable, Hashable, CaseIterable, Comparable {
  case minor, major, critical

  public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }

  var rank: Int {
    switch self {
    case .minor: 1
    case .major: 2
    case .critical: 3
    }
  }
}

public enum ItemResult: Sendable, Hashable {
  case pass
  case notApplicable
  case fail(Severity)

  public var severity: Severity? {
    if case .fail(let s) = self { return s }
    return nil
  }
}

/// The categories of checklist items (托育机构安全检查).
public enum Category: String, Sendable, Hashable, CaseIterable {
  case building, fire, food, personalSafety = "personal-safety", hygiene, staffing, records
}
