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
  /// `city`): the latest national value and the latest local value of the county or the city,
  /// whichever is stricter. Nil when nothing is in force yet.
  public func value(_ key: Key, on date: LocalDate, county: String, city: String) -> Int? {
    func latest(_ regions: Set<String>) -> Int? {
      values.filter { $0.key == key && regions.contains($0.region) && $0.effectiveFrom <= date }
        .max { ($0.effectiveFrom, $0.region.count) < ($1.effectiveFrom, $1.region.count) }?.value
    }
    let national = latest([""])
    let local = latest([county, city].filter { !$0.isEmpty }.reduce(into: Set<String>()) { $0.insert($1) })
    switch (national, local) {
    case (nil, nil): return nil
    case (let n?, nil): return n
    case (nil, let l?): return l
    case (let n?, let l?): return key.isFloor ? max(n, l) : min(n, l)
    }
  }

  /// The national seed: 托育机构设置标准（试行）(2019-10-08) and the family care point measures
  /// (家庭托育点管理办法（试行）, 2023-10-16). Migration 0101 loads the same rows.
  public static let national = RulePack([
    Value(.infantClassMax, from: LocalDate(year: 2019, month: 10, day: 8)!, 10),
    Value(.toddlerClassMax, from: LocalDate(year: 2019, month: 10, day: 8)!, 15),
    Value(.olderToddlerClassMax, from: LocalDate(year: 2019, month: 10, day: 8)!, 20),
    Value(.mixedClassMax, from: LocalDate(year: 2019, month: 10, day: 8)!, 18),
    Value(.familyMaxChildren, from: LocalDate(year: 2023, month: 10, day: 16)!, 5),
    Value(.familyChildrenPerCarer, from: LocalDate(year: 2023, month: 10, day: 16)!, 3),
    Value(.familyMinTenureYears, from: LocalDate(year: 2023, month: 10, day: 16)!, 3),
  ])
}
