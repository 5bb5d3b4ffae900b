import API
import Postgres
import RegistryAPI
import ServiceKit
import Synchronization

/// The rule pack as last read, with the `rule_pack_version` it was read at. A filing reads the
/// version in the statement that reads its region anyway; only a different version (a rule value
/// changed, in any process) costs a read of the pack.
final class RulePackCache: Sendable {
  private let cached = Mutex<(version: Int64, pack: RulePack)?>(nil)

  /// The pack at `version`: the one kept, or read by `read` (and kept when it is newer).
  func pack(version: Int64, read: () async throws -> RulePack) async throws -> RulePack {
    if let kept = cached.withLock({ $0 }), kept.version == version { return kept.pack }
    let pack = try await read()
    cached.withLock { current in
      if current == nil || current!.version < version { current = (version, pack) }
    }
    return pack
  }
}

extension RegistryStore {
  /// Every rule value, as the filing checks read them.
  static func rulePack(_ tx: PostgresSession) async throws -> RulePack {
    let rows = try await tx.query("SELECT key, region_code, effective_from, value FROM rule_value")
    return RulePack(
      try rows.compactMap { row in
        let (key, region, from, value) = try row.decode((String, String, LocalDate, Int).self)
        // A value that is not positive cannot be applied: refused when written, skipped when read.
        guard let k = RulePack.Key(rawValue: key), value > 0 else { return nil }
        return RulePack.Value(k, region: region, from: from, value)
      })
  }

  /// Every rule value, for people: by key, region and date.
  static func ruleValues(_ db: PostgresSession) async throws -> [Tuoyu_Registry_V1_RuleValue] {
    try await db.query(
      """
      SELECT key, region_code, effective_from, value, source FROM rule_value ORDER BY key, region_code, effective_from
      """
    ).map { row in
      let (key, region, from, value, source) = try row.decode((String, String, LocalDate, Int32, String).self)
      return .with {
        $0.key = key
        $0.regionCode = region
        $0.effectiveFrom = from.proto
        $0.value = value
        $0.source = source
      }
    }
  }

  /// Sets a rule value (a new one, or the one of the same key, region and date).
  static func putRuleValue(_ tx: PostgresSession, _ v: Tuoyu_Registry_V1_RuleValue, from: LocalDate) async throws {
    try await tx.query(
      """
      INSERT INTO rule_value (key, region_code, effective_from, value, source)
      VALUES (\(v.key), \(v.regionCode), \(from), \(v.value), \(v.source))
      ON CONFLICT (key, region_code, effective_from) DO UPDATE SET value = EXCLUDED.value, source = EXCLUDED.source
      """)
  }
}

extension RegistryStore {
  /// The calendar's days after `day` through `through`: true for a make-up working day, false for
  /// a holiday (days not in it follow the plain week).
  static func calendar(
    _ tx: PostgresSession, after day: LocalDate, through last: LocalDate
  ) async throws
    -> [LocalDate: Bool]
  {
    var out: [LocalDate: Bool] = [:]
    for row in try await tx.query(
      "SELECT day, kind = 'workday' FROM calendar_day WHERE day > \(day) AND day <= \(last)")
    {
      let (d, working) = try row.decode((LocalDate, Bool).self)
      out[d] = working
    }
    return out
  }

  static func calendarDays(_ db: PostgresSession, year: Int) async throws -> [Tuoyu_Registry_V1_CalendarDay] {
    try await db.query(
      """
      SELECT day, kind, name, source FROM calendar_day
      WHERE day >= \(LocalDate(year: year, month: 1, day: 1)!) AND day <= \(LocalDate(year: year, month: 12, day: 31)!)
      ORDER BY day
      """
    ).map { row in
      let (day, kind, name, source) = try row.decode((LocalDate, String, String, String).self)
      return .with {
        $0.day = day.proto
        $0.kind = kind == "workday" ? .workday : .holiday
        $0.name = name
        $0.source = source
      }
    }
  }

  /// Sets a day of the calendar, or removes it (`kind` nil: the plain week again).
  static func putCalendarDay(
    _ tx: PostgresSession, _ day: LocalDate, kind: String?, name: String, source: String
  )
    async throws
  {
    if let kind {
      tx.queue(
        """
        INSERT INTO calendar_day (day, kind, name, source) VALUES (\(day), \(kind), \(name), \(source))
        ON CONFLICT (day) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name, source = EXCLUDED.source
        """)
    } else {
      tx.queue("DELETE FROM calendar_day WHERE day = \(day)")
    }
  }
}
