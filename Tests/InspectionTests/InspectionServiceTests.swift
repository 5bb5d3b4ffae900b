import API
import Foundation
import InspectionAPI
import InspectionCore
import Postgres
import RPC
import RegistryAPI
import RegistryCore
import RegistryView
import ServiceKit
import ServiceKitTesting
import SwiftProtobuf
import Testing

typealias I = Tuoyu_Inspection_V1_Inspections
typealias R = Tuoyu_Registry_V1_Registry

let today = day("2025-06-10")
let code = "91330502MA2H00011A"

func date(_ s: String) -> Tuoyu_Common_V1_Date { day(s).proto }

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

/// The inspection service in this process (today pinned), its institutions told by registry
/// events applied as the feed would; and, for the cross-service tests, a real registry that
/// follows it.
struct Fixture: Sendable {
  let inspection: TestService

  static func start() async throws -> Fixture {
    Fixture(
      inspection: try await TestService.start(
        name: "inspection", migrations: InspectionService.migrations!, sharedMigrations: [RegistryView.migrations!],
        policy: InspectionService.policy, build: { deps in [InspectionService(pool: deps.pool, today: { today })] }))
  }

  func client(
    _ roles: [String], subject: String = "inspector-1", institution: String? = nil, region: String? = nil
  )
    async throws -> I.Client
  {
    I.Client(
      try await inspection.client(roles, subject: subject, institution: institution, region: region))
  }

  /// The registry's event for a filed 普惠 institution with `seats` seats.
  func institution(
    _ code: String, status: String = "filed", inclusive: Bool = true, seats: Int32 = 60, cursor: Int64
  )
    async throws
  {
    let e = Tuoyu_Registry_V1_InstitutionEvent.with {
      $0.creditCode = code
      $0.displayName = "示例托育"
      $0.status = status
      $0.version = Int32(cursor)
      $0.countyCode = "330502"
      $0.inclusive = inclusive
      $0.seatsByClass.toddler = .with {
        $0.classes = 4
        $0.seats = seats
      }
    }
    try await ChangeFeedConsumer(source: "registry", pool: inspection.pool).apply(
      .with {
        $0.cursor = cursor
        $0.eventType = "institution.\(status)"
        $0.payloadJson = try! e.jsonString()
      }, RegistryView.apply)
  }

  func stop() async { await inspection.stop() }
}

/// Results for every item of the demo checklist: pass, except the failures given.
func results(
  _ checklist: Tuoyu_Inspection_V1_Checklist, failing: Set<String> = []
)
  -> [Tuoyu_Inspection_V1_ItemResult]
{
  checklist.items.map { item in
    .with {
      $0.code = item.code
      $0.outcome = failing.contains(item.code) ? .fail : .pass
    }
  }
}

@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"), .serialized)
struct InspectionServiceTests {
  func inspect(
    _ c: I.Client, _ checklist: Tuoyu_Inspection_V1_Checklist, failing: Set<String>,
    kind: Tuoyu_Inspection_V1_Kind = .routinePatrol,
    level: Tuoyu_Inspection_V1_Level = .county, id: String, on: String = "2025-06-02"
  ) async throws -> Tuoyu_Inspection_V1_Inspection {
    let draft = try await c.recordInspection(
      .with {
        $0.requestID = "record-\(id)"
        $0.creditCode = code
        $0.level = level
        $0.kind = kind
        $0.inspectedOn = date(on)
        $0.inspectors = ["张检查", "李检查"]
        $0.coDepartments = [.fire]
        $0.results = results(checklist, failing: failing)
      })
    return try await c.finaliseInspection(
      .with {
        $0.requestID = "finalise-\(id)"
        $0.inspectionID = draft.inspectionID
      })
  }

  @Test func inspectionsOrdersGradesAndTheirRights() async throws {
    let f = try await Fixture.start()
    defer { Task { await f.stop() } }
    try await f.institution(code, cursor: 1)
    let county = try await f.client(["inspection.county-inspector"])
    let township = try await f.client(["inspection.township-inspector"], subject: "township-1")
    let checklist = try await county.getChecklist(.init())
    #expect(checklist.version == 1 && checklist.items.count == 20)

    // A township inspector records township inspections, not county ones.
    await expectCode(.permissionDenied, rule: "inspection.level-role") {
      _ = try await township.recordInspection(
        .with {
          $0.requestID = "t-1"
          $0.creditCode = code
          $0.level = .county
          $0.kind = .routinePatrol
          $0.inspectors = ["王"]
        })
    }
    // Unknown items, unknown institution, a future day: refused.
    await expectCode(.invalidArgument, rule: "inspection.item-known") {
      _ = try await county.recordInspection(
        .with {
          $0.requestID = "bad-item"
          $0.creditCode = code
          $0.level = .county
          $0.kind = .routinePatrol
          $0.inspectors = ["王"]
          $0.results = [
            .with {
              $0.code = "NOPE-1"; $0.outcome = .pass
            }
          ]
        })
    }
    await expectCode(.notFound, rule: "inspection.institution-known") {
      _ = try await county.recordInspection(
        .with {
          $0.requestID = "bad-inst"
          $0.creditCode = "91330502MA2H00029A"
          $0.level = .county
          $0.kind = .routinePatrol
          $0.inspectors = ["王"]
        })
    }
    // An incomplete inspection is not finalised.
    let partial = try await county.recordInspection(
      .with {
        $0.requestID = "partial"
        $0.creditCode = code
        $0.level = .county
        $0.kind = .routinePatrol
        $0.inspectedOn = date("2025-06-01")
        $0.inspectors = ["王"]
        $0.results = Array(results(checklist).prefix(5))
      })
    await expectCode(.failedPrecondition, rule: "inspection.complete") {
      _ = try await county.finaliseInspection(
        .with {
          $0.requestID = "f-partial"; $0.inspectionID = partial.inspectionID
        })
    }

    // A major and a minor failure: two orders, due in 15 and 30 days.
    let done = try await inspect(county, checklist, failing: ["FIRE-02", "REC-01"], id: "1")
    #expect(done.finalised && done.majorFailures == 1 && done.minorFailures == 1 && done.criticalFailures == 0)
    // Finalised: no edits, not even in the database.
    await expectCode(.failedPrecondition, rule: "inspection.finalised") {
      _ = try await county.recordResults(
        .with {
          $0.requestID = "late-edit"
          $0.inspectionID = done.inspectionID
          $0.results = [
            .with {
              $0.code = "FIRE-02"; $0.outcome = .pass
            }
          ]
        })
    }
    await #expect(throws: PostgresError.self) {
      _ = try await f.inspection.pool.query(
        "UPDATE inspection_result SET outcome = 1 WHERE inspection_id = \(done.inspectionID)")
    }
    let orders = try await county.listOrders(
      .with {
        $0.creditCode = code; $0.asOf = date("2025-06-20")
      })
    #expect(orders.orders.map(\.itemCode).sorted() == ["FIRE-02", "REC-01"])
    let fire = orders.orders.first { $0.itemCode == "FIRE-02" }!
    #expect(LocalDate(fire.deadline) == day("2025-06-17") && fire.overdue)
    #expect(orders.orders.first { $0.itemCode == "REC-01" }!.overdue == false)

    // The institution reports; only an inspector verifies.
    let own = try await f.client(["inspection.institution"], subject: "boss", institution: code)
    _ = try await own.reportRectified(
      .with {
        $0.requestID = "r-1"; $0.orderID = fire.orderID; $0.on = date("2025-06-09")
      })
    await expectCode(.permissionDenied) {
      _ = try await own.verifyRectification(
        .with {
          $0.requestID = "v-0"; $0.orderID = fire.orderID
        })
    }
    let verified = try await county.verifyRectification(
      .with {
        $0.requestID = "v-1"; $0.orderID = fire.orderID
      })
    #expect(verified.status == .verified && !verified.overdue)
    #expect(try await f.inspection.count("SELECT count(*) FROM outbox WHERE event_type = 'order.verified'") == 1)
    let other = try await f.client(["inspection.institution"], subject: "other", institution: "91330502MA2H00029A")
    await expectCode(.notFound) {
      _ = try await other.reportRectified(
        .with {
          $0.requestID = "r-x"; $0.orderID = fire.orderID
        })
    }

    // Grades: a major and a minor failure in the window → 93, A; the open minor order overdue
    // after 2 July takes 10 more.
    let g = try await county.getGrade(.with { $0.creditCode = code })
    #expect(g.score == 93 && g.grade == "A" && g.majorFailures == 1 && g.minorFailures == 1)
  }

  /// New rule versions take effect: deadlines for inspections from their day on, credit weights
  /// for every grade after; malformed tables are refused; only an admin publishes.
  @Test func ruleTablesAreVersionedData() async throws {
    let f = try await Fixture.start()
    defer { Task { await f.stop() } }
    try await f.institution(code, cursor: 1)
    let admin = try await f.client(["inspection.admin"])
    let county = try await f.client(["inspection.county-inspector"])
    await expectCode(.permissionDenied) {
      _ = try await county.putCreditRules(
        .with {
          $0.requestID = "x"; $0.rules.aFrom = 90
        })
    }
    await expectCode(.invalidArgument, rule: "rules.deadline-order") {
      _ = try await admin.putDeadlineRules(
        .with {
          $0.requestID = "d0"
          $0.rules = .with {
            $0.effectiveFrom = date("2025-06-01")
            $0.criticalDays = 10
            $0.majorDays = 5
            $0.minorDays = 30
          }
        })
    }
    _ = try await admin.putDeadlineRules(
      .with {
        $0.requestID = "d1"
        $0.rules = .with {
          $0.effectiveFrom = date("2025-06-01")
          $0.criticalDays = 1
          $0.majorDays = 7
          $0.minorDays = 14
        }
      })
    await expectCode(.invalidArgument, rule: "rules.bands") {
      _ = try await admin.putCreditRules(
        .with {
          $0.requestID = "c0"
          $0.rules = .with {
            $0.aFrom = 60; $0.bFrom = 75; $0.cFrom = 50; $0.criticalCap = "C"; $0.minorPoints = 1; $0.majorPoints = 2
            $0.criticalPoints = 3
          }
        })
    }
    let v2 = try await admin.putCreditRules(
      .with {
        $0.requestID = "c1"
        $0.rules = .with {
          $0.minorPoints = 5; $0.majorPoints = 10; $0.criticalPoints = 30; $0.overduePoints = 10
          $0.aFrom = 95; $0.bFrom = 85; $0.cFrom = 70; $0.criticalCap = "D"
        }
      })
    #expect(v2.version == 2)
    let checklist = try await county.getChecklist(.init())
    _ = try await inspect(county, checklist, failing: ["FIRE-02"], id: "r1")
    let orders = try await county.listOrders(.with { $0.creditCode = code })
    #expect(orders.orders.map { LocalDate($0.deadline)! } == [day("2025-06-09")])  // 2 June + 7 days
    let g = try await county.getGrade(.with { $0.creditCode = code })
    // 100 − 10 (a major failure) − 10 (its order, due 9 June, overdue on the 10th) = 80: C under
    // version 2's bands (B from 85).
    #expect(g.score == 80 && g.grade == "C" && g.rulesVersion == 2 && g.overdueOrders == 1)
  }

  @Test func coverageOfTheYearsPlanPerCounty() async throws {
    let f = try await Fixture.start()
    defer { Task { await f.stop() } }
    try await f.institution(code, cursor: 1)
    try await f.institution("91330502MA2H00029A", cursor: 2)
    let admin = try await f.client(["inspection.admin"])
    _ = try await admin.putPlan(
      .with {
        $0.requestID = "p1";
        $0.entry = .with {
          $0.year = 2025; $0.level = .county; $0.inspectionsPerYear = 1
        }
      })
    _ = try await admin.putPlan(
      .with {
        $0.requestID = "p2";
        $0.entry = .with {
          $0.year = 2025; $0.level = .township; $0.inspectionsPerYear = 2
        }
      })
    let county = try await f.client(["inspection.county-inspector", "inspection.township-inspector"])
    let checklist = try await county.getChecklist(.init())
    _ = try await inspect(county, checklist, failing: [], id: "c1")
    _ = try await inspect(county, checklist, failing: [], level: .township, id: "t1")
    _ = try await inspect(county, checklist, failing: [], level: .township, id: "t2", on: "2025-06-03")
    // A draft does not count.
    _ = try await county.recordInspection(
      .with {
        $0.requestID = "draft"
        $0.creditCode = "91330502MA2H00029A"
        $0.level = .county
        $0.kind = .routinePatrol
        $0.inspectors = ["王"]
      })
    let c = try await admin.getCoverage(
      .with {
        $0.year = 2025; $0.regionCode = "330500"
      })
    #expect(c.counties.map(\.countyCode) == ["330502"])
    #expect(c.counties[0].institutions == 2 && c.counties[0].covered == 1 && c.counties[0].coveragePermille == 500)
    #expect(
      c.shortfalls.map { "\($0.creditCode) \($0.level) \($0.missing)" } == [
        "91330502MA2H00029A county 1", "91330502MA2H00029A township 2",
      ])
    let nextYear = try await admin.getCoverage(
      .with {
        $0.year = 2026; $0.regionCode = "330502"
      })
    #expect(nextYear.plan.isEmpty && nextYear.shortfalls.isEmpty && nextYear.counties[0].coveragePermille == 1000)
  }

  @Test func seatsAreAcceptedOnceAndConfirmedByTheCityWithItsReason() async throws {
    let f = try await Fixture.start()
    defer { Task { await f.stop() } }
    try await f.institution(code, seats: 60, cursor: 1)
    let county = try await f.client(["inspection.county-inspector"])
    let checklist = try await county.getChecklist(.init())
    let evaluation = try await inspect(county, checklist, failing: [], kind: .acceptanceEvaluation, id: "acc")
    let acceptor = try await f.client(["inspection.county-acceptor"], subject: "county-1")
    let reviewer = try await f.client(["inspection.city-reviewer"], subject: "city-1")
    await expectCode(.failedPrecondition, rule: "acceptance.once") {
      _ = try await acceptor.acceptSeats(
        .with {
          $0.requestID = "a-0"; $0.year = 2025; $0.inspectionID = evaluation.inspectionID; $0.seats = 61
        })
    }
    let a = try await acceptor.acceptSeats(
      .with {
        $0.requestID = "a-1"; $0.year = 2025; $0.inspectionID = evaluation.inspectionID; $0.seats = 40
      })
    #expect(a.status == .countyAccepted && a.acceptedSeats == 40)
    // A county inspector or acceptor cannot confirm; the city adjusts only with a reason.
    await expectCode(.permissionDenied) {
      _ = try await acceptor.confirmAcceptance(
        .with {
          $0.requestID = "c-0"; $0.acceptanceID = a.acceptanceID; $0.confirmedSeats = 40
        })
    }
    await expectCode(.invalidArgument, rule: "acceptance.adjust-reason") {
      _ = try await reviewer.confirmAcceptance(
        .with {
          $0.requestID = "c-1"; $0.acceptanceID = a.acceptanceID; $0.confirmedSeats = 30
        })
    }
    let confirmed = try await reviewer.confirmAcceptance(
      .with {
        $0.requestID = "c-2"
        $0.acceptanceID = a.acceptanceID
        $0.confirmedSeats = 30
        $0.reason = "两个班未达标"
      })
    #expect(confirmed.status == .cityConfirmed && confirmed.confirmedSeats == 30 && confirmed.confirmedBy == "city-1")
    #expect(try await f.inspection.count("SELECT count(*) FROM outbox WHERE event_type = 'acceptance.confirmed'") == 1)
    #expect(
      try await f.inspection.count(
        "SELECT count(*) FROM audit_log WHERE principal = 'city-1' AND method LIKE '%ConfirmAcceptance' AND outcome = 'OK'"
      )
        == 1)
    // 30 of 60 are accepted: another evaluation may accept 30 more, not 31.
    let second = try await inspect(county, checklist, failing: [], kind: .acceptanceEvaluation, id: "acc2")
    await expectCode(.failedPrecondition, rule: "acceptance.once") {
      _ = try await acceptor.acceptSeats(
        .with {
          $0.requestID = "a-2"; $0.year = 2025; $0.inspectionID = second.inspectionID; $0.seats = 31
        })
    }
    _ = try await acceptor.acceptSeats(
      .with {
        $0.requestID = "a-3"; $0.year = 2025; $0.inspectionID = second.inspectionID; $0.seats = 30
      })
    let listed = try await reviewer.listAcceptances(.with { $0.year = 2025 })
    #expect(listed.acceptances.map(\.acceptedSeats) == [40, 30])
  }

  /// A critical finding suspends the institution in a real registry, exactly once, also when the
  /// registry's follower dies between the suspension and its cursor.
  @Test func aCriticalFindingSuspendsTheInstitutionInTheRegistryExactlyOnce() async throws {
    let f = try await Fixture.start()
    defer { Task { await f.stop() } }
    let registry = try await TestService.start(
      name: "registry", migrations: RegistryService.migrations!, policy: RegistryService.policy,
      services: { [RegistryService(pool: $0, today: { today })] })
    defer { Task { await registry.stop() } }
    try await fileInRegistry(registry)
    try await f.institution(code, cursor: 1)
    let county = try await f.client(["inspection.county-inspector"])
    let checklist = try await county.getChecklist(.init())
    let done = try await inspect(county, checklist, failing: ["FIRE-01", "SAFE-03", "REC-02"], id: "crit")
    #expect(done.criticalFailures == 2)

    // The inspection's feed as the registry reads it, with the registry's service token.
    let token = try await f.inspection.issuer.issue(
      TokenClaims(subject: "registry", department: "health", roles: [Roles.service], lifetime: 600))
    var config = RPCClient.Configuration(host: "127.0.0.1", port: f.inspection.running.port)
    config.defaultMetadata.addString("Bearer \(token)", forKey: "authorization")
    let client = try RPCClient(configuration: config)
    let stream = try await Tuoyu_Feed_V1_ChangeFeed.Client(client).watchEvents(.with { $0.stopAtEnd = true })
    var events: [Tuoyu_Feed_V1_Event] = []
    while let e = try await stream.receive() { events.append(e) }
    await client.close()
    let finalised = try #require(events.first { $0.eventType == "inspection.finalised" })

    // The follower dies after the suspension, before its cursor: nothing of it stays.
    struct Killed: Error {}
    let consumer = ChangeFeedConsumer(source: "inspection", pool: registry.pool)
    let effect = InspectionFollower.apply(today: { today })
    await #expect(throws: Killed.self) {
      try await consumer.apply(finalised) { e, tx in
        try await effect(e, tx)
        throw Killed()
      }
    }
    let admin = R.Client(try await registry.client(["registry.admin"]))
    #expect(try await admin.getInstitution(.with { $0.creditCode = code }).status == .filed)
    // Restarted, it applies the event once; the same event again changes nothing.
    #expect(try await consumer.apply(finalised, effect))
    #expect(try await consumer.apply(finalised, effect) == false)
    let suspended = try await admin.getInstitution(.with { $0.creditCode = code })
    #expect(suspended.status == .suspended)
    #expect(suspended.reasons.first?.contains("inspection \(done.inspectionID)") == true)
    #expect(try await registry.count("SELECT count(*) FROM institution_version WHERE event = 'suspended'") == 1)
    // The grade computed at finalising (two critical failures and a minor: 100 − 40 − 2 = 58, D)
    // reaches the registry's public listing once the institution is filed again.
    let grade = try #require(events.first { $0.eventType == "grade.computed" })
    #expect(try await consumer.apply(grade, effect))
    let approver = R.Client(try await registry.client(["registry.approver"]))
    _ = try await approver.reinstateInstitution(
      .with {
        $0.requestID = "re"; $0.creditCode = code
      })
    let listed = try await approver.listPublicInstitutions(.init())
    #expect(listed.institutions.map(\.latestGrade) == ["D"])
  }

  /// Regions, and an institution registered, submitted and filed in the registry.
  func fileInRegistry(_ registry: TestService) async throws {
    let admin = R.Client(try await registry.client(["registry.admin", "registry.officer", "registry.approver"]))
    for (c, level, parent) in [
      ("330500", Tuoyu_Registry_V1_RegionLevel.city, ""), ("330502", .county, "330500"),
      ("330502001", .township, "330502"),
    ] {
      _ = try await admin.putRegion(
        .with {
          $0.requestID = "r-\(c)"
          $0.code = c
          $0.displayName = "区域\(c)"
          $0.level = level
          $0.parentCode = parent
        })
    }
    func doc(_ n: String) -> Tuoyu_Common_V1_Document {
      .with {
        $0.number = n
        $0.issuer = "湖州市吴兴区某局"
        $0.issued = date("2020-01-02")
      }
    }
    let facts = Tuoyu_Registry_V1_FilingFacts.with {
      $0.mode = .privateCentre
      $0.careTypes = [.fullDay]
      $0.townshipCode = "330502001"
      $0.address = "示例路 1 号"
      $0.seats.toddler = .with {
        $0.classes = 4
        $0.seats = 60
      }
    }
    _ = try await admin.registerInstitution(
      .with {
        $0.requestID = "reg"
        $0.creditCode = code
        $0.displayName = "示例托育"
        $0.legalNature = .forProfit
        $0.registrationAuthority = "湖州市吴兴区市场监督管理局"
        $0.facts.townshipCode = "330502001"
        $0.effectiveDate = date("2025-01-02")
      })
    _ = try await admin.submitFiling(
      .with {
        $0.requestID = "sub"
        $0.creditCode = code
        $0.facts = facts
        $0.materials = .with {
          $0.siteProof = doc("lease")
          $0.hygieneEvaluation = doc("WS-1")
          $0.fireSafety = doc("XF-1")
          $0.staffQualifications = doc("ZG-1")
          $0.staffHealth = doc("JK-1")
        }
        $0.effectiveDate = date("2025-01-03")
      })
    _ = try await admin.fileInstitution(
      .with {
        $0.requestID = "file"; $0.creditCode = code; $0.effectiveDate = date("2025-01-06")
      })
  }
}
