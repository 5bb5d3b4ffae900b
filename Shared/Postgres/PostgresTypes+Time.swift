import Foundation

/// A calendar date without time or zone (SQL `date`).
public struct PostgresDate: PostgresCodable, Hashable, Comparable, CustomStringConvertible {
  public var year: Int
  public var month: Int
  public var day: Int

  public init(year: Int, month: Int, day: Int) {
    self.year = year
    self.month = month
    self.day = day
  }

  /// Parses `YYYY-MM-DD`.
  public init?(_ text: String) {
    let parts = text.split(separator: "-")
    guard parts.count == 3, parts[0].count == 4, let y = Int(parts[0]), let m = Int(parts[1]),
      let d = Int(parts[2]), (1...12).contains(m), (1...31).contains(d)
    else { return nil }
    self.init(year: y, month: m, day: d)
  }

  public var description: String {
    "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
  }

  public static func < (a: PostgresDate, b: PostgresDate) -> Bool {
    (a.year, a.month, a.day) < (b.year, b.month, b.day)
  }

  public static var postgresOID: UInt32 { PostgresOID.date }
  public var postgresText: String { description }
  public static var acceptedOIDs: Set<UInt32> { [PostgresOID.date] }
  public static func decode(postgresText text: String) throws -> PostgresDate {
    guard let d = PostgresDate(text) else {
      throw PostgresError(.typeMismatch, "cannot read a date from \(text.debugDescription)")
    }
    return d
  }
}

private func pad(_ n: Int, _ width: Int) -> String {
  let s = String(n)
  return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

/// Days since 1970-01-01 for a proleptic Gregorian date, and back (H. Hinnant's algorithms): the
/// one civil-calendar arithmetic of the code base (timestamps here, `LocalDate` in ServiceKit).
public enum CivilDays {
  public static func days(year: Int, month: Int, day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
  }

  public static func date(days z0: Int) -> (year: Int, month: Int, day: Int) {
    let z = z0 + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
  }
}

/// `timestamptz` as Foundation `Date`, in UTC text with microseconds.
extension Date: PostgresCodable {
  public static var postgresOID: UInt32 { PostgresOID.timestamptz }

  public var postgresText: String {
    let micros = Int64((timeIntervalSince1970 * 1_000_000).rounded())
    var days = Int(micros / 86_400_000_000)
    var rest = micros % 86_400_000_000
    if rest < 0 {
      rest += 86_400_000_000
      days -= 1
    }
    let (y, m, d) = CivilDays.date(days: days)
    let secs = Int(rest / 1_000_000)
    let us = Int(rest % 1_000_000)
    return
      "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2)) \(pad(secs / 3600, 2)):\(pad(secs / 60 % 60, 2)):\(pad(secs % 60, 2)).\(pad(us, 6))+00"
  }

  public static var acceptedOIDs: Set<UInt32> { [PostgresOID.timestamptz, PostgresOID.timestamp] }

  /// Reads `YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]` (the ISO DateStyle the pool sets).
  public static func decode(postgresText text: String) throws -> Date {
    let bad = PostgresError(.typeMismatch, "cannot read a timestamp from \(text.debugDescription)")
    let u = Array(text.utf8)
    guard u.count >= 19, u[4] == 45, u[7] == 45, u[10] == 32 || u[10] == 84, u[13] == 58, u[16] == 58
    else { throw bad }
    func num(_ a: Int, _ b: Int) throws -> Int {
      var v = 0
      for i in a..<b {
        guard u[i] >= 48 && u[i] <= 57 else { throw bad }
        v = v * 10 + Int(u[i] - 48)
      }
      return v
    }
    let days = CivilDays.days(year: try num(0, 4), month: try num(5, 7), day: try num(8, 10))
    var micros = Int64(days) * 86_400_000_000
    micros += Int64(try num(11, 13) * 3600 + num(14, 16) * 60 + num(17, 19)) * 1_000_000
    var i = 19
    if i < u.count && u[i] == 46 {
      i += 1
      var frac = 0
      var digits = 0
      while i < u.count, u[i] >= 48 && u[i] <= 57 {
        if digits < 6 {
          frac = frac * 10 + Int(u[i] - 48)
          digits += 1
        }
        i += 1
      }
      for _ in digits..<6 { frac *= 10 }
      micros += Int64(frac)
    }
    if i < u.count {
      guard u[i] == 43 || u[i] == 45, i + 3 <= u.count else { throw bad }
      let sign: Int64 = u[i] == 43 ? 1 : -1
      var offset = Int64(try num(i + 1, i + 3)) * 3600
      if i + 6 <= u.count && u[i + 3] == 58 { offset += Int64(try num(i + 4, i + 6)) * 60 }
      micros -= sign * offset * 1_000_000
    }
    return Date(timeIntervalSince1970: Double(micros) / 1_000_000)
  }
}
