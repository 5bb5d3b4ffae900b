import ServiceKit

/// The numbers filings are checked against, each a value with the date it takes effect, national
/// or local (a city or county may be stricter, never looser). Kept as data (table `rule_value`),
/// so a new standard is a new row with a future date, not a new build.
public struct RulePack: Sendable {
  public enum Key: String, Sendable, CaseIterable {
    case infantClassMax = "class.infant.max-children"
    case toddlerClassMax = "class.toddler.max-children"
    case olderToddlerClassMax = "class.older-toddler.max-children"
    case mixedClassMax = "class.mixed.max-children"
    case familyMaxChildren = "family.max-children"
    case familyChildrenPerCarer = "family.children-per-carer"
    case familyMinTenureYears = "family.min-premises-tenure-years"
    /// Children per caregiver (the staffing ratio) per class type; checked by the workforce
    /// service, which follows these values through the change feed.
    case infantChildrenPerCarer = "ratio.infant.children-per-carer"
    case toddlerChildrenPerCarer = "ratio.toddler.children-per-carer"
    case olderToddlerChildrenPerCarer = "ratio.older-toddler.children-per-carer"
    case mixedChildrenPerCarer = "ratio.mixed.children-per-carer"

    /// Whether the value is a floor (stricter = higher) rather than a ceiling (stricter = lower).
    var isFloor: Bool { self == .familyMinTenureYears }
  }

  public struct Value: Sendable, Hashable {
    public var key: Key
    /// Empty for national; else a city or county code.
    public var region: String
    public var effectiveFrom: LocalDate
    public var value: Int

    public init(_ key: Key, region: String = "", from: LocalDate, _ value: Int) {
      self.key = key
      self.region = region
      self.effectiveFrom = from
      self.value = value
    }
  }

  public var values: [Value]

  public init(_ values: [Value]) { self.values = values }

  /// The value of `key` in force on `date` for an institution in `county` (whose city is
  /// `city`): of the latest national value, the latest value of the city and the latest of the
  /// county, the strictest (a county cannot loosen what its city or the nation set, whatever the
  /// dates). Nil when nothing is in force yet.
  public func value(_ key: Key, on date: LocalDate, county: String, city: String) -> Int? {
    let levels = [""] + [city, county].filter { !$0.isEmpty }
    let inForce = levels.compactMap { latest(key, region: $0, on: date) }
    guard let first = inForce.first else { return nil }
    return inForce.dropFirst().reduce(first) { key.isFloor ? max($0, $1) : min($0, $1) }
  }

  /// The latest value of `key` set for exactly `region` ("" national) in force on `date`.
  public func latest(_ key: Key, region: String, on date: LocalDate) -> Int? {
    values.filter { $0.key == key && $0.region == region && $0.effectiveFrom <= date }
      .max { $0.effectiveFrom < $1.effectiveFrom }?.value
  }

  /// Why a local value of `key` would be looser than what the levels above `region` (the nation,
  /// and for a county its `city`) have in force on `date`, or nil when it is as strict or
  /// stricter. A local value may only tighten.
  public func looserThanAbove(_ key: Key, value: Int, region: String, city: String?, on date: LocalDate) -> Refusal? {
    guard !region.isEmpty else { return nil }
    let above = [("national", "")] + (city.map { [("city \($0)", $0)] } ?? [])
    for (level, code) in above {
      guard let limit = latest(key, region: code, on: date) else { continue }
      let looser = key.isFloor ? value < limit : value > limit
      if looser {
        return .precondition(
          "rules.local-not-looser",
          "\(key.rawValue) \(value) for \(region) is looser than the \(level) value \(limit) in force on \(date); a local value may only be stricter (\(key.isFloor ? "at least" : "at most") \(limit))",
          field: "value.value")
      }
    }
    return nil
  }

  /// The national seed: 托育机构设置标准（试行）(2019-10-08) and the family care point measures
  /// (家庭托育点管理办法（试行）, 2023-10-16). Migrations 0100 and 0104 load the same rows.
  public static let national = RulePack([
    Value(.infantClassMax, from: LocalDate(year: 2019, month: 10, day: 8)!, 10),
    Value(.toddlerClassMax, from: LocalDate(year: 2019, month: 10, day: 8)!, 15),
    Value(.olderToddlerClassMax, from: LocalDate(year: 2019, month: 10, day: 8)!, 20),
    Value(.mixedClassMax, from: LocalDate(year: 2019, month: 10, day: 8)!, 18),
    Value(.familyMaxChildren, from: LocalDate(year: 2023, month: 10, day: 16)!, 5),
    Value(.familyChildrenPerCarer, from: LocalDate(year: 2023, month: 10, day: 16)!, 3),
    Value(.familyMinTenureYears, from: LocalDate(year: 2023, month: 10, day: 16)!, 3),
    Value(.infantChildrenPerCarer, from: LocalDate(year: 2019, month: 10, day: 8)!, 3),
    Value(.toddlerChildrenPerCarer, from: LocalDate(year: 2019, month: 10, day: 8)!, 5),
    Value(.olderToddlerChildrenPerCarer, from: LocalDate(year: 2019, month: 10, day: 8)!, 7),
  ])
}
