import API
import Foundation
import Postgres

/// A calendar day in China Standard Time (UTC+8, no daylight saving): the one civil date of every
/// service — effective dates, birth dates, months of a claim. Bound to Postgres as a `date`, read
/// from one, and converted to and from `tuoyu.common.v1.Date`.
public struct LocalDate: Sendable, Hashable, Comparable, CustomStringConvertible {
  public let year: Int
  public let month: Int
  public let day: Int

  /// Nil unless the three numbers name a real day.
  public init?(year: Int, month: Int, day: Int) {
    guard (1900...9999).contains(year), (1...12).contains(month), day >= 1,
      day <= LocalDate.days(inMonth: month, year: year)
    else { return nil }
    self.year = year
    self.month = month
    self.day = day
  }

  /// Parses `YYYY-MM-DD`.
  public init?(_ text: String) {
    let parts = text.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
      let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2])
    else { return nil }
    self.init(year: y, month: m, day: d)
  }

  static func days(inMonth month: Int, year: Int) -> Int {
    switch month {
    case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
  }

  /// Today in China.
  public static func today(now: Date = Date()) -> LocalDate {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(secondsFromGMT: 8 * 3600)!
    let c = calendar.dateComponents([.year, .month, .day], from: now)
    return LocalDate(year: c.year!, month: c.month!, day: c.day!)!
  }

  /// Days since 1970-01-01 (proleptic Gregorian).
  public var ordinal: Int { CivilDays.days(year: year, month: month, day: day) }

  public init(ordinal: Int) {
    (year, month, day) = CivilDays.date(days: ordinal)
  }

  /// 0 = Monday … 6 = Sunday.
  public var weekday: Int { ((ordinal % 7) + 7 + 3) % 7 }

  public func adding(days: Int) -> LocalDate { LocalDate(ordinal: ordinal + days) }

  /// The `n`th working day after this one: weekdays count, weekends do not, except the days
  /// `calendar` says otherwise of (a public holiday on a weekday, a make-up working day on a
  /// weekend; true = a working day).
  public func adding(workingDays n: Int, calendar: [LocalDate: Bool] = [:]) -> LocalDate {
    var d = self
    var left = n
    while left > 0 {
      d = d.adding(days: 1)
      if calendar[d] ?? (d.weekday < 5) { left -= 1 }
    }
    return d
  }

  public static func < (a: LocalDate, b: LocalDate) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }

  public var description: String {
    let y = String(year), m = month < 10 ? "0\(month)" : "\(month)", d = day < 10 ? "0\(day)" : "\(day)"
    return "\(y)-\(m)-\(d)"
  }
}

extension LocalDate: PostgresCodable {
  public static var postgresOID: UInt32 { PostgresOID.date }
  public var postgresText: String { description }
  public static var acceptedOIDs: Set<UInt32> { [PostgresOID.date] }

  public static func decode(postgresText text: String) throws -> LocalDate {
    guard let d = LocalDate(text) else { throw PostgresError(.typeMismatch, "not a date in 1900–9999") }
    return d
  }
}

extension LocalDate {
  /// From the API's date; nil when unset or not a real day.
  public init?(_ d: Tuoyu_Common_V1_Date) {
    self.init(year: Int(d.year), month: Int(d.month), day: Int(d.day))
  }

  /// The API's date.
  public var proto: Tuoyu_Common_V1_Date {
    .with {
      $0.year = Int32(year)
      $0.month = Int32(month)
      $0.day = Int32(day)
    }
  }
}
