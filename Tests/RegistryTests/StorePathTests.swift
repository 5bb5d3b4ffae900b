import API
import Foundation
import Postgres
import RPC
import RegistryAPI
import RegistryCore
import ServiceKit
import ServiceKitTesting
import Testing

/// What the fast database path must keep: the filed totals kept per day equal a walk of every
/// version, a refused import row leaves nothing but its audit row (also when some of its writes
/// had gone), and a rule changed by anyone is applied to the very next filing.
@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"), .serialized)
struct StorePathTests {
  let tests = RegistryServiceTests()

  /// The reference: each institution's version in force at the end of `day`, filed ones summed per
  /// township (what indicators read before migration 0102).
  func reference(_ f: RegistryFixture, _ day: String) async throws -> [String: [Int64]] {
    let rows = try await f.pool.query(
      """
      WITH v AS (
        SELECT DISTINCT ON (credit_code) status, inclusive, township_code, county_code, total_seats
        FROM institution_version WHERE effective_date <= \(day)::date ORDER BY credit_code, version DESC)
      SELECT county_code || '/' || township_code, count(*), sum(total_seats)::bigint,
        count(*) FILTER (WHERE inclusive), coalesce(sum(total_seats) FILTER (WHERE inclusive), 0)::bigint
      FROM v WHERE status = 'filed' GROUP BY 1
      """)
    var out: [String: [Int64]] = [:]
    for row in rows {
      let (k, n, s, ni, si) = try row.decode((String, Int64, Int64, Int64, Int64).self)
      out[k] = [n, s, ni, si]
    }
    return out
  }

  func kept(_ f: RegistryFixture, _ day: String) async throws -> [String: [Int64]] {
    let rows = try await f.pool.query(
      """
      SELECT county_code || '/' || township_code, sum(institutions)::bigint, sum(seats)::bigint,
        sum(inclusive_institutions)::bigint, sum(inclusive_seats)::bigint
      FROM filed_change WHERE day <= \(day)::date GROUP BY 1 HAVING sum(institutions) <> 0 OR sum(seats) <> 0
      """)
    var out: [String: [Int64]] = [:]
    for row in rows {
      let (k, n, s, ni, si) = try row.decode((String, Int64, Int64, Int64, Int64).self)
      out[k] = [n, s, ni, si]
    }
    return out
  }

  @Test func filedTotalsKeptPerDayEqualAWalkOfEveryVersion() async throws {
    let f = try await RegistryFixture.start()
    let admin = try await f.client(["registry.admin"])
    let officer = try await f.client(["registry.officer"])
    let approver = try await f.client(["registry.approver"])
    try await putDemoRegions(admin)
    let townships = ["330502001", "330502002", "330503001"]
    var rng = SplitMix(seed: 20251126)
    // Twelve institutions filed on different days, then changed, moved, suspended, reinstated,
    // revoked and closed on later days (some on the same day as another change).
    for n in 1...12 {
      let day = "2025-\(String(format: "%02d", 1 + n % 6))-\(String(format: "%02d", 1 + n))"
      _ = try await tests.fileInstitution(
        officer, approver, admin, n: 100 + n,
        facts: facts(township: townships[n % 3], inclusive: n % 2 == 0, infant: Int32(5 + n % 5)), day: day)
    }
    for step in 0..<30 {
      let n = 100 + 1 + Int(rng.next() % 12)
      let month = 7 + step / 3  // July 2025 to April 2026
      let day =
        "\(2025 + (month - 1) / 12)-\(String(format: "%02d", 1 + (month - 1) % 12))-\(String(format: "%02d", 1 + step % 3 * 9))"
      let request = "step-\(step)"
      let inst = try await admin.getInstitution(.with { $0.creditCode = code(n) })
      do {
        switch (inst.status, rng.next() % 3) {
        case (.filed, 0):
          _ = try await approver.suspendInstitution(
            .with {
              $0.requestID = request; $0.creditCode = code(n); $0.reason = "检查"; $0.effectiveDate = date(day)
            })
        case (.filed, 1):
          _ = try await officer.changeFiling(
            .with {
              $0.requestID = request; $0.creditCode = code(n); $0.effectiveDate = date(day)
              $0.facts = facts(
                township: townships[Int(rng.next() % 3)], inclusive: rng.next() % 2 == 0,
                infant: Int32(1 + rng.next() % 9), toddler: Int32(10 + rng.next() % 20))
            })
        case (.filed, _):
          _ = try await approver.revokeInstitution(
            .with {
              $0.requestID = request; $0.creditCode = code(n); $0.reason = "违规"; $0.effectiveDate = date(day)
            })
        case (.suspended, _):
          _ = try await approver.reinstateInstitution(
            .with {
              $0.requestID = request; $0.creditCode = code(n); $0.effectiveDate = date(day)
            })
        default:
          continue
        }
      } catch let e as RPCError where e.code == .failedPrecondition {
        continue  // e.g. a change dated before the institution's last one
      }
    }
    #expect(try await f.count("SELECT count(*) FROM institution_version") > 40)
    for day in ["2024-12-31", "2025-03-05", "2025-06-30", "2025-08-10", "2025-12-31", "2026-02-19", "2026-12-31"] {
      let want = try await reference(f, day)
      let got = try await kept(f, day)
      #expect(got == want, "filed totals on \(day)")
    }
    // Year-end indicators (read from the yearly sums) per county, against the same walk.
    for year in [2025, 2026] {
      var want: [String: [Int64]] = [:]
      for (key, v) in try await reference(f, "\(year)-12-31") {
        let county = String(key.prefix(6))
        let w = want[county] ?? [0, 0, 0]
        want[county] = [w[0] + v[0], w[1] + v[1], w[2] + v[3]]
      }
      let indicators = try await admin.getIndicators(.with { $0.year = Int32(year) })
      let counties = indicators.regions.filter { $0.regionCode.utf8.count == 6 && $0.regionCode != "330500" }
      #expect(counties.count == 2)
      for r in counties {
        #expect(
          [Int64(r.institutions), r.seats, r.inclusiveSeats] == (want[r.regionCode] ?? [0, 0, 0]),
          "indicators of \(r.regionCode) in \(year)")
      }
    }
    await f.stop()
  }

  @Test func aRefusedImportRowLeavesOnlyItsAuditRowEvenAfterSomeOfItsWrites() async throws {
    let f = try await RegistryFixture.start()
    let admin = try await f.client(["registry.admin"])
    try await putDemoRegions(admin)
    // A fault planted in the database: the version insert of one row fails, after that row's
    // institution row was written in the same batch transaction.
    try await f.pool.withConnection { db in
      try await db.execute(
        """
        CREATE FUNCTION planted_fault() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.display_name = '埋设故障' THEN RAISE EXCEPTION 'planted fault' USING ERRCODE = 'P0001'; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER planted_fault BEFORE INSERT ON institution_version FOR EACH ROW EXECUTE FUNCTION planted_fault();
        """)
    }
    func row(_ n: Int32, _ c: String, _ name: String) -> Tuoyu_Registry_V1_ImportRow {
      .with {
        $0.row = n; $0.creditCode = c; $0.displayName = name; $0.legalNature = .forProfit
        $0.registrationAuthority = "a"; $0.facts = facts(); $0.filingNumber = "HZ-OLD-\(n)"
        $0.effectiveDate = date("2025-06-01")
      }
    }
    let call = try await admin.importInstitutions()
    let rows = [
      row(2, code(300), "导入一"),
      row(3, code(301), "埋设故障"),  // refused by the database after its institution row
      row(4, code(302), String(repeating: "长", count: 10_000)),  // refused by the limits, before any write
      row(5, code(300), "重复"),  // refused by the service (already registered in this batch)
      row(6, code(303), "导入五"),
    ]
    for r in rows { try await call.send(r) }
    try await call.end()
    let result = try #require(try await call.receive())
    #expect(result.received == 5 && result.imported == 2)
    #expect(result.failures.map(\.row) == [3, 4, 5])
    for c in [code(300), code(303)] {
      #expect(try await f.count("SELECT count(*) FROM institution_version WHERE credit_code = \(c)") == 2)
      #expect(try await f.count("SELECT count(*) FROM outbox WHERE subject = \("institutions/" + c)") == 2)
    }
    for c in [code(301), code(302)] {
      #expect(try await f.count("SELECT count(*) FROM institution WHERE credit_code = \(c)") == 0)
      #expect(try await f.count("SELECT count(*) FROM outbox WHERE subject = \("institutions/" + c)") == 0)
    }
    #expect(try await f.count("SELECT count(*) FROM institution") == 2)
    #expect(try await f.count("SELECT coalesce(sum(institutions), 0)::int FROM filed_change") == 2)
    #expect(
      try await f.count("SELECT count(*) FROM audit_log WHERE request_id LIKE 'import:row:%' AND outcome = 'OK'") == 2)
    #expect(
      try await f.count(
        "SELECT count(*) FROM audit_log WHERE request_id IN ('import:row:3', 'import:row:4', 'import:row:5') AND outcome <> 'OK'"
      ) == 3)
    await f.stop()
  }

  /// After a large import the planner knows the tables' new size (ANALYZE ran): pg_class's
  /// estimate is what was loaded, not "never analyzed" (-1).
  @Test func aLargeImportLeavesThePlannerWithFreshStatistics() async throws {
    let f = try await RegistryFixture.start()
    let admin = try await f.client(["registry.admin"])
    try await putDemoRegions(admin)
    let n = RegistryService.analyzeAfterRows
    let call = try await admin.importInstitutions()
    for i in 0..<n {
      try await call.send(
        .with {
          $0.row = Int32(i + 2); $0.creditCode = code(5000 + i); $0.displayName = "批量 \(i)"
          $0.legalNature = .forProfit; $0.registrationAuthority = "a"; $0.facts = facts()
          $0.filingNumber = "HZ-BULK-\(i)"; $0.effectiveDate = date("2025-06-01")
        })
    }
    try await call.end()
    let result = try #require(try await call.receive())
    #expect(result.imported == Int32(n))
    let estimate = try await f.pool.query(
      "SELECT reltuples::bigint FROM pg_class WHERE oid = \(f.schema + ".institution")::regclass")[0].decode(
        Int.self, at: 0)
    #expect(estimate >= n, "reltuples \(estimate)")
    await f.stop()
  }

  @Test func aRuleChangedInTheDatabaseAppliesToTheNextFiling() async throws {
    let f = try await RegistryFixture.start()
    let admin = try await f.client(["registry.admin"])
    let officer = try await f.client(["registry.officer"])
    let approver = try await f.client(["registry.approver"])
    try await putDemoRegions(admin)
    _ = try await tests.fileInstitution(officer, approver, admin, n: 400, facts: facts(infant: 10), day: "2025-03-01")
    // Another process (here: plain SQL) tightens the national infant class size to 8.
    try await f.pool.query(
      "UPDATE rule_value SET value = 8 WHERE key = 'class.infant.max-children' AND region_code = ''")
    await expectCode(.failedPrecondition) {
      _ = try await tests.fileInstitution(officer, approver, admin, n: 401, facts: facts(infant: 10), day: "2025-03-02")
    }
    _ = try await tests.fileInstitution(officer, approver, admin, n: 402, facts: facts(infant: 8), day: "2025-03-02")
    await f.stop()
  }
}

/// A small deterministic generator, so a failing history can be replayed.
struct SplitMix: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
