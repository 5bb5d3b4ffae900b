import API
import Postgres
import RegistryAPI
import ServiceKit

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
