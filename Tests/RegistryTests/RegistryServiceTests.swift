import API
import RegistryAPI
import Foundation
import Postgres
import RPC
import RegistryCore
import SwiftProtobuf
import ServiceKit
import ServiceKitTesting
import Testing

typealias Req = Tuoyu_Registry_V1_RegisterInstitutionRequest

/// A registry service in this process on a fresh schema, behind the real transport and auth.
struct RegistryFixture: Sendable {
  let service: TestService

  static func start() async throws -> RegistryFixture {
    RegistryFixture(
      service: try await TestService.start(
        name: "registry", migrations: RegistryService.migrations!, policy: RegistryService.policy,
        services: { [RegistryService(pool: $0)] }))
  }

  var pool: PostgresPool { service.pool }
  var schema: String { service.schema }
  var running: ServiceRunner.Running { service.running }

  /// A client presenting a token with `roles` (no token when nil).
  func client(_ roles: [String]?) async throws -> Registry.Client {
    Registry.Client(try await service.client(roles))
  }

  func count(_ sql: PostgresQuery) async throws -> Int { try await service.count(sql) }

  func stop() async { await service.stop() }
}

func date(_ s: String) -> Tuoyu_Common_V1_Date {
  let parts = s.split(separator: "-").map { Int32($0)! }
  return .with {
    $0.year = parts[0]
    $0.month = parts[1]
    $0.day = parts[2]
  }
}

/// A small city: 330500 with two counties and three townships, figures for 2025.
func putDemoRegions(_ admin: Registry.Client) async throws {
  func put(
    _ code: String, _ name: String, _ level: Tuoyu_Registry_V1_RegionLevel, _ parent: String, pop: Int64 = 0,
    target: Int64 = 0, fee: Int64 = 0
  ) async throws {
    _ = try await admin.putRegion(
      .with {
        $0.requestID = "region-\(code)"
        $0.code = code
        $0.displayName = name
        $0.level = level
        $0.parentCode = parent
        if pop > 0 || target > 0 || fee > 0 {
          $0.years = [
            .with {
              $0.year = 2025
              $0.population = pop
              $0.seatTarget = target
              $0.averageMonthlyFee.fen = fee
            }
          ]
        }
      })
  }
  try await put("330500", "湖州市", .city, "", target: 400)
  try await put("330502", "吴兴区", .county, "330500", pop: 60_000, target: 250, fee: 250_000)
  try await put("330503", "南浔区", .county, "330500", pop: 40_000, target: 150, fee: 200_000)
  try await put("330502001", "示例街道一", .township, "330502")
  try await put("330502002", "示例街道二", .township, "330502")
  try await put("330503001", "示例镇", .township, "330503")
}

func code(_ n: Int) -> String { CreditCode.complete("91330502MA2B\(String(format: "%05d", n))")! }

/// A document issued on 2020-01-02 that does not expire.
func doc(_ number: String, expires: String? = nil) -> Tuoyu_Common_V1_Document {
  .with {
    $0.number = number
    $0.issuer = "湖州市吴兴区某局"
    $0.issued = LocalDate("2020-01-02")!.proto
    if let expires { $0.expires = LocalDate(expires)!.proto }
  }
}

let materials = FilingMaterials.with {
  $0.siteProof = doc("lease", expires: "2040-12-31")
  $0.hygieneEvaluation = doc("WS-1")
  $0.fireSafety = doc("XF-1")
  $0.staffQualifications = doc("ZG-1")
  $0.staffHealth = doc("JK-1")
}

func facts(
  township: String = "330502001", inclusive: Bool = true, fee: Int64 = 180_000, infant: Int32 = 10,
  toddler: Int32 = 30
) -> FilingFacts {
  .with {
    $0.mode = .privateCentre
    $0.careTypes = [.fullDay]
    $0.inclusive = inclusive
    $0.monthlyFee.fen = fee
    $0.townshipCode = township
    $0.address = "示例路 1 号"
    $0.seats.infant = .with {
      $0.classes = 1; $0.seats = infant
    }
    $0.seats.toddler = .with {
      $0.classes = 2; $0.seats = toddler
    }
  }
}

func expectCode(_ code: Status.Code, rule: String? = nil, _ body: () async throws -> Void) async {
  do {
    try await body()
    Issue.record("accepted; expected \(code)")
  } catch let e as RPCError {
    #expect(e.code == code, "\(e)")
    if let rule { #expect(e.message.contains(rule), "\(e.message)") }
  } catch {
    Issue.record("unexpected \(error)")
  }
}

@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"), .serialized)
struct RegistryServiceTests {
  /// Registers and files `n` institutions, effective on `day`.
  func fileInstitution(
    _ officer: Registry.Client, _ approver: Registry.Client, _ admin: Registry.Client, n: Int,
    facts f: FilingFacts, day: String
  ) async throws -> Institution {
    _ = try await admin.registerInstitution(
      .with {
        $0.requestID = "reg-\(n)"
        $0.creditCode = code(n)
        $0.displayName = "示例托育 \(n)"
        $0.legalNature = .forProfit
        $0.registrationAuthority = "湖州市吴兴区市场监督管理局"
        $0.facts.townshipCode = f.townshipCode
        $0.effectiveDate = date(day)
      })
    _ = try await officer.submitFiling(
      .with {
        $0.requestID = "sub-\(n)"
        $0.creditCode = code(n)
        $0.facts = f
        $0.materials = materials
        $0.effectiveDate = date(day)
      })
    return try await approver.fileInstitution(
      .with {
        $0.requestID = "file-\(n)"
        $0.creditCode = code(n)
        $0.effectiveDate = date(day)
      })
  }

  @Test func lifecycleHistoryAsOfAndIndicators() async throws {
    let f = try await RegistryFixture.start()
    let admin = try await f.client(["registry.admin"])
    let officer = try await f.client(["registry.officer"])
    let approver = try await f.client(["registry.approver"])
    let viewer = try await f.client(["leader"])
    try await putDemoRegions(admin)

    let filed = try await fileInstitution(officer, approver, admin, n: 1, facts: facts(), day: "2025-03-01")
    #expect(filed.status == .filed)
    #expect(filed.filingNumber == "TY-330502-2025-00001")
    #expect(filed.facts.seats.total == 40)
    #expect(filed.countyCode == "330502")

    // A filing change in 2026 (more seats); the year-end 2025 view keeps the old seats.
    var more = facts(toddler: 45)
    more.seats.toddler.classes = 3
    let changed = try await officer.changeFiling(
      .with {
        $0.requestID = "chg-1"
        $0.creditCode = code(1)
        $0.facts = more
        $0.reason = "扩班"
        $0.effectiveDate = date("2026-02-01")
      })
    #expect(changed.facts.seats.total == 55 && changed.version == 4)
    await expectCode(.failedPrecondition, rule: "filing-change.changes-something") {
      _ = try await officer.changeFiling(
        .with {
          $0.requestID = "chg-same"
          $0.creditCode = code(1)
          $0.facts = more
          $0.effectiveDate = date("2026-02-02")
        })
    }
    let then = try await viewer.getInstitution(
      .with {
        $0.creditCode = code(1)
        $0.asOf = date("2025-12-31")
      })
    #expect(then.facts.seats.total == 40 && then.status == .filed)
    await expectCode(.notFound) {
      _ = try await viewer.getInstitution(
        .with {
          $0.creditCode = code(1)
          $0.asOf = date("2025-02-28")
        })
    }

    // Suspend ⇄ reinstate, then revoke: each a version; refused transitions name their rule.
    _ = try await approver.suspendInstitution(
      .with {
        $0.requestID = "sus-1"
        $0.creditCode = code(1)
        $0.reason = "critical finding"
      })
    await expectCode(.failedPrecondition, rule: "lifecycle.changed") {
      _ = try await officer.changeFiling(
        .with {
          $0.requestID = "chg-2"
          $0.creditCode = code(1)
          $0.facts = facts()
        })
    }
    _ = try await approver.reinstateInstitution(
      .with {
        $0.requestID = "rei-1"
        $0.creditCode = code(1)
      })
    let revoked = try await approver.revokeInstitution(
      .with {
        $0.requestID = "rev-1"
        $0.creditCode = code(1)
        $0.reason = "serious violation"
      })
    #expect(revoked.status == .revoked)
    await expectCode(.failedPrecondition, rule: "lifecycle.reinstated") {
      _ = try await approver.reinstateInstitution(
        .with {
          $0.requestID = "rei-2"
          $0.creditCode = code(1)
        })
    }
    let history = try await viewer.listInstitutionHistory(.with { $0.creditCode = code(1) })
    #expect(
      history.versions.map(\.event) == [
        "registered", "filing-submitted", "filed", "changed", "suspended", "reinstated", "revoked",
      ])
    #expect(history.versions.allSatisfy { $0.recordedBy == "tester" })
    let history2025 = try await viewer.listInstitutionHistory(
      .with {
        $0.creditCode = code(1)
        $0.asOf = date("2025-12-31")
      })
    #expect(history2025.versions.map(\.event) == ["registered", "filing-submitted", "filed"])

    // More institutions for the indicators: a non-普惠 one in 330502002, a 普惠 one in 南浔, one
    // filed only in 2026, and one refused.
    _ = try await fileInstitution(
      officer, approver, admin, n: 2, facts: facts(township: "330502002", inclusive: false, fee: 400_000),
      day: "2025-05-01")
    _ = try await fileInstitution(
      officer, approver, admin, n: 3, facts: facts(township: "330503001", fee: 150_000, infant: 5, toddler: 15),
      day: "2025-06-01")
    _ = try await fileInstitution(
      officer, approver, admin, n: 4, facts: facts(township: "330503001", fee: 150_000), day: "2026-01-05")
    _ = try await admin.registerInstitution(
      .with {
        $0.requestID = "reg-5"
        $0.creditCode = code(5)
        $0.displayName = "示例托育 5"
        $0.legalNature = .nonProfit
        $0.registrationAuthority = "湖州市民政局"
        $0.facts.townshipCode = "330502001"
        $0.effectiveDate = date("2025-01-01")
      })

    let ind = try await viewer.getIndicators(.with { $0.year = 2025 })
    #expect(ind.regions.map(\.regionCode) == ["330500", "330502", "330503"])
    // Independent computation from the facts above, at 2025-12-31: institution 1 (40 seats, 普惠,
    // 330502001), 2 (40, not 普惠, 330502002), 3 (20, 普惠, 330503001).
    let city = ind.regions[0], wx = ind.regions[1], nx = ind.regions[2]
    #expect(
      (wx.seats, wx.inclusiveSeats, wx.institutions, wx.townships, wx.townshipsCovered, wx.townshipsInclusiveCovered)
        == (80, 40, 2, 2, 2, 1))
    #expect((nx.seats, nx.inclusiveSeats, nx.institutions, nx.townshipsCovered) == (20, 20, 1, 1))
    #expect((city.seats, city.inclusiveSeats, city.population, city.seatTarget) == (100, 60, 100_000, 400))
    #expect(abs(wx.seatsPerThousand - 80.0 * 1000 / 60_000) < 1e-9)
    #expect(abs(city.inclusiveShare - 0.6) < 1e-9)
    #expect(abs(city.targetProgress - 0.25) < 1e-9)
    #expect(abs(nx.targetProgress - 20.0 / 150) < 1e-9)

    // Lists: filters, subtree, as-of, paging with a token bound to its filters.
    let all = try await viewer.listInstitutions(.with { $0.regionCode = "330500" })
    #expect(all.institutions.map(\.creditCode) == [1, 2, 3, 4, 5].map(code))
    let filedInclusive = try await viewer.listInstitutions(
      .with {
        $0.status = .filed
        $0.inclusiveOnly = true
      })
    #expect(filedInclusive.institutions.map(\.creditCode) == [3, 4].map(code))
    let nanxun2025 = try await viewer.listInstitutions(
      .with {
        $0.regionCode = "330503"
        $0.asOf = date("2025-12-31")
      })
    #expect(nanxun2025.institutions.map(\.creditCode) == [code(3)])
    let page1 = try await viewer.listInstitutions(.with { $0.pageSize = 2 })
    #expect(page1.institutions.count == 2 && !page1.nextPageToken.isEmpty)
    let page2 = try await viewer.listInstitutions(
      .with {
        $0.pageSize = 2
        $0.pageToken = page1.nextPageToken
      })
    #expect(page2.institutions.map(\.creditCode) == [3, 4].map(code))
    await expectCode(.invalidArgument, rule: "paging.same-filters") {
      _ = try await viewer.listInstitutions(
        .with {
          $0.pageSize = 2
          $0.inclusiveOnly = true
          $0.pageToken = page1.nextPageToken
        })
    }

    // Public disclosure: no token, filed only, a fee band instead of the fee.
    let anonymous = try await f.client(nil)
    let pub = try await anonymous.listPublicInstitutions(.init())
    #expect(
      pub.institutions.map(\.filingNumber) == ["TY-330502-2025-00002", "TY-330503-2025-00001", "TY-330503-2026-00001"])
    #expect(pub.institutions[1].feeBand == "1000–1500 yuan")
    await expectCode(.unauthenticated) { _ = try await anonymous.listInstitutions(.init()) }

    // The change feed carried each step: 7 for no. 1, 3 each for 2–4, 1 for 5.
    #expect(try await f.count("SELECT count(*) FROM outbox WHERE event_type LIKE 'institution.%'") == 17)
    await f.stop()
  }

  @Test func badInputIsRefusedAndChangesNothing() async throws {
    let f = try await RegistryFixture.start()
    let admin = try await f.client(["registry.admin"])
    let officer = try await f.client(["registry.officer"])
    try await putDemoRegions(admin)
    func register(_ c: String, township: String = "330502001") async throws {
      _ = try await admin.registerInstitution(
        .with {
          $0.requestID = UUID().uuidString
          $0.creditCode = c
          $0.displayName = "x"
          $0.legalNature = .forProfit
          $0.registrationAuthority = "y"
          $0.facts.townshipCode = township
        })
    }
    await expectCode(.invalidArgument, rule: "credit-code.gb32100") { try await register("91330502MA2B3C4D5E") }
    await expectCode(.invalidArgument, rule: "region.known-township") {
      try await register(code(9), township: "330502999")
    }
    #expect(try await f.count("SELECT count(*) FROM institution") == 0)
    try await register(code(9))
    await expectCode(.alreadyExists) { try await register(code(9)) }

    func submit(_ facts: FilingFacts, _ m: FilingMaterials = materials) async throws {
      _ = try await officer.submitFiling(
        .with {
          $0.requestID = UUID().uuidString
          $0.creditCode = code(9)
          $0.facts = facts
          $0.materials = m
        })
    }
    await expectCode(.invalidArgument, rule: "facts.seats.infant.seats: must be 0–2000 (rule limits.range)") {
      try await submit(facts(infant: -1))
    }
    await expectCode(.failedPrecondition, rule: "class.infant.max-children") { try await submit(facts(infant: 11)) }
    await expectCode(.failedPrecondition, rule: "inclusive.fee-below-county-average") {
      try await submit(facts(fee: 250_000))
    }
    var noFire = materials
    noFire.clearFireSafety()
    await expectCode(.failedPrecondition, rule: "filing.materials.fire-safety") { try await submit(facts(), noFire) }
    var expired = materials
    expired.siteProof = doc("lease", expires: "2024-12-31")
    await expectCode(.failedPrecondition, rule: "document.not-expired") {
      try await submit(facts(), expired)
    }
    // The details carry every violation, machine-readable.
    do {
      try await submit(facts(infant: 11, toddler: 31))
    } catch let e as RPCError {
      let status = try Google_Rpc_Status(serializedBytes: e.details ?? [])
      let failure = try Google_Rpc_PreconditionFailure(unpackingAny: status.details[0])
      #expect(failure.violations.map(\.type) == ["class.infant.max-children", "class.toddler.max-children"])
    }
    // Nothing moved: still registered, one version, one event; each refusal audited.
    #expect(try await f.count("SELECT count(*) FROM institution_version") == 1)
    #expect(try await f.count("SELECT count(*) FROM outbox WHERE event_type LIKE 'institution.%'") == 1)
    #expect(try await f.count("SELECT count(*) FROM audit_log WHERE outcome LIKE 'FAILED_PRECONDITION%'") >= 4)
    await expectCode(.failedPrecondition, rule: "lifecycle.filed") {
      _ = try await (try await f.client(["registry.approver"])).fileInstitution(
        .with {
          $0.requestID = "f"
          $0.creditCode = code(9)
        })
    }
    await expectCode(.invalidArgument, rule: "region.known") {
      _ = try await admin.listInstitutions(.with { $0.regionCode = "339999" })
    }
    await expectCode(.invalidArgument, rule: "effective-date.not-future") {
      _ = try await officer.submitFiling(
        .with {
          $0.requestID = "future"
          $0.creditCode = code(9)
          $0.facts = facts()
          $0.materials = materials
          $0.effectiveDate = date("2999-01-01")
        })
    }

    // Import: per row; a malformed row is reported with its rule and the others land.
    let call = try await admin.importInstitutions()
    let rows: [Tuoyu_Registry_V1_ImportRow] = [
      .with {
        $0.row = 2; $0.creditCode = code(20); $0.displayName = "导入一"; $0.legalNature = .forProfit
        $0.registrationAuthority = "a"; $0.facts = facts(); $0.filingNumber = "HZ-OLD-1";
        $0.effectiveDate = date("2025-06-01")
      },
      .with {
        $0.row = 3; $0.creditCode = "NOT-A-CODE"; $0.displayName = "坏行"; $0.legalNature = .forProfit
        $0.registrationAuthority = "a"; $0.facts = facts()
      },
      .with {
        $0.row = 4; $0.creditCode = code(21); $0.displayName = "导入三"; $0.legalNature = .nonProfit
        $0.registrationAuthority = "a"; $0.facts.townshipCode = "330503001"
      },
      .with {
        $0.row = 5; $0.creditCode = code(9); $0.displayName = "重复"; $0.legalNature = .nonProfit
        $0.registrationAuthority = "a"; $0.facts.townshipCode = "330503001"
      },
    ]
    for row in rows { try await call.send(row) }
    try await call.end()
    let result = try #require(try await call.receive())
    #expect(result.received == 4 && result.imported == 2)
    #expect(result.failures.map(\.row) == [3, 5])
    #expect(result.failures.map(\.code) == ["INVALID_ARGUMENT", "ALREADY_EXISTS"])
    #expect(result.failures[0].rule == "limits.characters")  // the contract's limits, before the GB 32100 check
    // Each row is on the audit trail: the imported ones with their change, the refused ones too.
    #expect(
      try await f.count("SELECT count(*) FROM audit_log WHERE request_id LIKE 'import:row:%' AND outcome = 'OK'") == 2)
    #expect(
      try await f.count(
        """
        SELECT count(*) FROM audit_log WHERE request_id IN ('import:row:3', 'import:row:5') AND outcome <> 'OK'
        """) == 2)
    let imported = try await admin.getInstitution(.with { $0.creditCode = code(20) })
    #expect(imported.status == .filed && imported.filingNumber == "HZ-OLD-1")
    await f.stop()
  }

  @Test func eachRoleCanDoExactlyWhatItShould() async throws {
    let f = try await RegistryFixture.start()
    let M = Registry.Method.self
    let policy = RegistryService.policy
    // The declared policy, method by method.
    let writers: [MethodDescriptor: Set<String>] = [
      M.registerInstitution: ["registration", "registry.admin"], M.submitFiling: ["registry.officer"],
      M.changeFiling: ["registry.officer"], M.closeInstitution: ["registry.officer"],
      M.fileInstitution: ["registry.approver"], M.refuseFiling: ["registry.approver"],
      M.suspendInstitution: ["registry.approver"], M.reinstateInstitution: ["registry.approver"],
      M.revokeInstitution: ["registry.approver"], M.putRegion: ["registry.admin"], M.putRuleValue: ["registry.admin"],
      M.putCalendarDay: ["registry.admin"], M.importInstitutions: ["registry.admin"],
    ]
    for (m, roles) in writers { #expect(policy.allowed[m.path] == roles, "\(m.path)") }
    for m in M.all where writers[m] == nil && m != M.listPublicInstitutions {
      #expect(policy.allowed[m.path]?.contains("leader") == true, "\(m.path) is a read")
    }
    #expect(policy.publicMethods.contains(M.listPublicInstitutions.path))
    // And enforced on the wire: a leader cannot register; a registration authority cannot file.
    let leader = try await f.client(["leader"])
    await expectCode(.permissionDenied) {
      _ = try await leader.registerInstitution(.with { $0.requestID = "x" })
    }
    let registration = try await f.client(["registration"])
    await expectCode(.permissionDenied) {
      _ = try await registration.fileInstitution(.with { $0.requestID = "x" })
    }
    await expectCode(.unauthenticated) {
      _ = try await (try await f.client(nil)).getIndicators(.with { $0.year = 2025 })
    }

    // Every method × every role on the wire: allowed roles get past authorization (whatever the
    // empty request then earns), the rest get PERMISSION_DENIED.
    let roles = [
      "registry.viewer", "registry.officer", "registry.approver", "registry.admin", "registration", "leader",
      "service", "auditor", "inspection.officer",
    ]
    var checked = 0
    for role in roles {
      let client = try await f.client([role]).client
      for m in M.all where m != M.listPublicInstitutions {
        let allowed = policy.allowed[m.path]?.contains(role) == true
        var code = Status.Code.ok
        do {
          if m.kind == .clientStreaming {
            let call = try await client.makeCall(
              m, request: Google_Protobuf_Empty.self, response: Google_Protobuf_Empty.self)
            try await call.end()
            _ = try await call.receive()
            code = await call.status().code
          } else {
            let _: UnaryResponse<Google_Protobuf_Empty> = try await client.unary(m, request: Google_Protobuf_Empty())
          }
        } catch let e as RPCError {
          code = e.code
        }
        #expect((code != .permissionDenied) == allowed, "\(role) → \(m.method): \(code)")
        #expect(code != .unauthenticated && code != .internal && code != .unknown, "\(role) → \(m.method): \(code)")
        checked += 1
      }
      await client.close()
    }
    #expect(checked == roles.count * (M.all.count - 1))
    #expect(try await f.count("SELECT count(*) FROM institution") == 0)
    await f.stop()
  }
}
