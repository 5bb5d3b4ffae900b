import API
import Foundation
import NIOConcurrencyHelpers
import Postgres
import RPC
import RegistryAPI
import RegistryView
import ServiceKit
import ServiceKitTesting
import SwiftProtobuf
import Testing
import WorkforceAPI
import WorkforceCore

typealias W = Tuoyu_Workforce_V1_Workforce

/// The workforce service in this process on a fresh schema, behind the real transport and
/// authentication, with a vault of its own; "today" is pinned. Institutions reach its view the
/// way the registry's feed brings them (`RegistryView.apply`, exactly once by cursor).
struct WorkforceFixture: Sendable {
  let service: TestService
  /// The service's today, which a test may move.
  let clock: Clock

  final class Clock: Sendable {
    private let box = NIOLockedValueBox(day("2025-06-02"))
    var today: LocalDate {
      get { box.withLockedValue { $0 } }
      set { box.withLockedValue { $0 = newValue } }
    }
  }

  static func start(keys: Int = 1) async throws -> WorkforceFixture {
    let vault = try PersonalDataVault(
      keys: (1...keys).map { try .init(id: "k\($0)", secret: [UInt8](repeating: UInt8(6 + $0), count: 32)) })
    let clock = Clock()
    return WorkforceFixture(
      service: try await TestService.start(
        name: "workforce", migrations: WorkforceService.migrations!, sharedMigrations: [RegistryView.migrations!],
        policy: WorkforceService.policy,
        build: { deps in [WorkforceService(pool: deps.pool, vault: vault, today: { clock.today })] }),
      clock: clock)
  }

  var pool: PostgresPool { service.pool }

  func client(
    _ roles: [String], subject: String = "officer-1", institution: String? = nil, region: String? = nil
  ) async throws -> W.Client {
    W.Client(
      try await service.client(roles, subject: subject, department: "hrss", institution: institution, region: region))
  }

  /// An institution as the registry's feed would tell of it.
  func institution(
    _ code: String, county: String = "330502", status: String = "filed", version: Int32 = 1, infant: Int32 = 10,
    toddler: Int32 = 30, cursor: Int64
  ) async throws {
    let event = Tuoyu_Registry_V1_InstitutionEvent.with {
      $0.creditCode = code
      $0.displayName = "示例托育 \(code.suffix(4))"
      $0.status = status
      $0.version = version
      $0.countyCode = county
      $0.townshipCode = county + "001"
      $0.seatsByClass.infant = .with {
        $0.classes = 1
        $0.seats = infant
      }
      $0.seatsByClass.toddler = .with {
        $0.classes = 2
        $0.seats = toddler
      }
    }
    let feed = Tuoyu_Feed_V1_Event.with {
      $0.cursor = cursor
      $0.source = "registry"
      $0.eventType = "institution.\(status)"
      $0.subject = "institutions/\(code)"
      $0.payloadJson = try! event.jsonString()
    }
    try await ChangeFeedConsumer(source: "registry", pool: pool).apply(feed, RegistryView.apply)
  }

  func count(_ sql: PostgresQuery) async throws -> Int { try await service.count(sql) }

  func stop() async { await service.stop() }
}

let codeA = "91330502MA2B00017X"
let codeB = "91330502MA2B00025Q"
let codeC = "91330503MA2B00031W"

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

/// A person's registration: a made-up resident ID number born in 1990 (sequence `n`).
func newPerson(
  _ n: Int, education: Tuoyu_Workforce_V1_Education = .seniorSecondary, experience: Int32 = 0
) -> Tuoyu_Workforce_V1_RegisterPersonRequest {
  .with {
    $0.requestID = "person-\(n)"
    $0.displayName = "员工\(n)"
    $0.idNumber = residentID("33050219900101" + String(format: "%03d", n))
    $0.phone = "13800000\(String(format: "%03d", n))"
    $0.education = education
    $0.relatedExperienceYears = experience
  }
}

func ref(_ id: Int64) -> Tuoyu_Workforce_V1_PersonRef { .with { $0.personID = id } }

@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"), .serialized)
struct WorkforceServiceTests {
  /// A course of pre-job training and a session of it that ended before the fixture's today.
  func preJobSession(
    _ admin: W.Client, _ officer: W.Client, capacity: Int32 = 50, ends: String = "2025-05-30"
  )
    async throws -> Int64
  {
    _ = try? await admin.createCourse(
      .with {
        $0.requestID = "course-prejob"
        $0.code = "PREJOB"
        $0.title = "托育机构保育人员岗前培训"
        $0.kind = .preJob
        $0.hours = 40
      })
    return try await officer.createSession(
      .with {
        $0.requestID = "session-\(capacity)-\(ends)"
        $0.courseCode = "PREJOB"
        $0.countyCode = "330502"
        $0.venue = "吴兴区职业技能培训中心"
        $0.startsOn = date("2025-05-26")
        $0.endsOn = date(ends)
        $0.capacity = capacity
      }
    ).sessionID
  }

  /// Registers person `n` and has them complete pre-job training (enrolled on the session's
  /// first day, attendance recorded on the fixture's today).
  func trained(_ n: Int, _ f: WorkforceFixture, _ officer: W.Client, session: Int64) async throws -> Int64 {
    let p = try await officer.registerPerson(newPerson(n))
    let today = f.clock.today
    f.clock.today = day("2025-05-26")
    defer { f.clock.today = today }
    _ = try await officer.enrol(
      .with {
        $0.requestID = "enrol-\(n)"
        $0.sessionID = session
        $0.person = ref(p.personID)
      })
    f.clock.today = today
    _ = try await officer.recordAttendance(
      .with {
        $0.requestID = "attend-\(n)"
        $0.sessionID = session
        $0.person = ref(p.personID)
        $0.hoursAttended = 40
        $0.completed = true
      })
    return p.personID
  }

  func hire(
    _ c: W.Client, _ person: Int64, _ code: String, _ role: Tuoyu_Workforce_V1_StaffRole, id: String
  )
    async throws -> Tuoyu_Workforce_V1_Employment
  {
    try await c.hireStaff(
      .with {
        $0.requestID = id
        $0.person = ref(person)
        $0.creditCode = code
        $0.role = role
        $0.startDate = date("2025-06-01")
      })
  }

  @Test func aBannedPersonIsRefusedEverywhereAndTheBanEndsTheirEmployment() async throws {
    let f = try await WorkforceFixture.start()
    defer { Task { await f.stop() } }
    try await f.institution(codeA, cursor: 1)
    try await f.institution(codeB, cursor: 2)
    try await f.institution(codeC, county: "330503", cursor: 3)
    let admin = try await f.client(["workforce.admin"])
    let officer = try await f.client(["workforce.officer"])
    let session = try await preJobSession(admin, officer)
    let carer = try await trained(1, f, officer, session: session)
    let untrained = try await officer.registerPerson(newPerson(2)).personID
    let manager = try await officer.registerPerson(newPerson(3, education: .college, experience: 5)).personID

    // The hiring rules, through the transport.
    await expectCode(.failedPrecondition, rule: "hire.caregiver-pre-job-training") {
      _ = try await hire(officer, untrained, codeA, .caregiver, id: "h-untrained")
    }
    await expectCode(.failedPrecondition, rule: "hire.manager-qualification") {
      _ = try await hire(officer, untrained, codeA, .manager, id: "h-untrained-manager")
    }
    let job = try await hire(officer, carer, codeA, .caregiver, id: "h-1")
    #expect(job.endDate == Tuoyu_Common_V1_Date())
    _ = try await hire(officer, manager, codeA, .manager, id: "h-3")

    // The ban, naming the manager directly responsible: both employments end at once.
    let ban = Tuoyu_Workforce_V1_BanPersonRequest.with {
      $0.requestID = "ban-1"
      $0.person = ref(carer)
      $0.decision = .with {
        $0.caseNumber = "(2025)浙0502刑初123号"
        $0.authority = "湖州市吴兴区人民法院"
        $0.decidedOn = date("2025-06-01")
        $0.reason = "虐待被看护人"
      }
      $0.responsibleManager = ref(manager)
    }
    let banned = try await officer.banPerson(ban)
    #expect(banned.ban.status == .active)
    #expect(banned.ban.endedEmployments.map(\.creditCode) == [codeA])
    #expect(banned.managerBan.responsibleForBanID == banned.ban.banID)
    #expect(banned.ban.idNumber.contains("*"))
    // A retry returns the first result and ends nothing twice.
    let again = try await officer.banPerson(ban)
    #expect(again.ban.banID == banned.ban.banID)
    #expect(try await f.count("SELECT count(*) FROM ban") == 2)
    #expect(try await f.count("SELECT count(*) FROM employment WHERE end_date IS NULL") == 0)
    #expect(try await f.count("SELECT count(*) FROM outbox WHERE event_type = 'person.banned'") == 2)
    #expect(try await f.count("SELECT count(*) FROM outbox WHERE event_type = 'employment.ended'") == 2)

    // Refused at every institution, by an officer and by the institution's own employer.
    for (code, n) in [(codeA, 1), (codeB, 2), (codeC, 3)] {
      await expectCode(.failedPrecondition, rule: "hire.not-banned") {
        _ = try await hire(officer, carer, code, .caregiver, id: "h-banned-\(n)")
      }
      let employer = try await f.client(["workforce.employer"], subject: "employer-\(n)", institution: code)
      await expectCode(.failedPrecondition, rule: "hire.not-banned") {
        _ = try await employer.hireStaff(
          .with {
            $0.requestID = "e-banned-\(n)"
            $0.person.idNumber = newPerson(1).idNumber
            $0.creditCode = code
            $0.role = .cook
          })
      }
    }

    // Eligibility: yes or no and nothing else; every check audited, never with the number.
    let agency = try await f.client(["workforce.eligibility"], subject: "agency")
    #expect(try await agency.checkEligibility(.with { $0.idNumber = newPerson(1).idNumber }).eligible == false)
    #expect(try await agency.checkEligibility(.with { $0.idNumber = newPerson(3).idNumber }).eligible == false)
    #expect(try await agency.checkEligibility(.with { $0.idNumber = newPerson(2).idNumber }).eligible)
    #expect(try await agency.checkEligibility(.with { $0.idNumber = newPerson(99).idNumber }).eligible)
    await expectCode(.invalidArgument, rule: "id-number.valid") {
      _ = try await agency.checkEligibility(.with { $0.idNumber = "330502199001010010" })
    }
    #expect(
      try await f.count("SELECT count(*) FROM audit_log WHERE principal = 'agency' AND method LIKE '%CheckEligibility'")
        == 4)
    #expect(try await f.count("SELECT count(*) FROM audit_log WHERE target = 'people/unknown'") == 1)

    // Annulment: recorded by one officer, approved by another; the ban stands meanwhile.
    let annul = Tuoyu_Workforce_V1_RequestAnnulmentRequest.with {
      $0.requestID = "annul-1"
      $0.banID = banned.managerBan.banID
      $0.decision = .with {
        $0.caseNumber = "(2025)浙05刑终45号"
        $0.authority = "湖州市中级人民法院"
        $0.decidedOn = date("2025-06-02")
        $0.reason = "二审改判：不负直接责任"
      }
    }
    #expect(try await officer.requestAnnulment(annul).status == .annulmentPending)
    #expect(try await agency.checkEligibility(.with { $0.idNumber = newPerson(3).idNumber }).eligible == false)
    let sameOfficer = try await f.client(["workforce.approver"], subject: "officer-1")
    await expectCode(.failedPrecondition, rule: "ban.maker-checker") {
      _ = try await sameOfficer.approveAnnulment(
        .with {
          $0.requestID = "approve-1"
          $0.banID = banned.managerBan.banID
        })
    }
    let approver = try await f.client(["workforce.approver"], subject: "officer-2")
    let annulled = try await approver.approveAnnulment(
      .with {
        $0.requestID = "approve-2"
        $0.banID = banned.managerBan.banID
      })
    #expect(annulled.status == .annulled)
    #expect(annulled.annulmentApprovedBy == "officer-2")
    #expect(try await agency.checkEligibility(.with { $0.idNumber = newPerson(3).idNumber }).eligible)
    // A ban is never deleted, not even by the service's own role.
    await #expect(throws: PostgresError.self) { _ = try await f.pool.query("DELETE FROM ban") }
    #expect(try await f.count("SELECT count(*) FROM ban") == 2)
  }

  /// One, two and three keys in the vault (two statements: the usual one, and the fallback while
  /// a third key is in rotation) answer the eligibility check alike and audit it alike.
  @Test(arguments: [1, 2, 3]) func eligibilityWithAnyNumberOfVaultKeys(keys: Int) async throws {
    let f = try await WorkforceFixture.start(keys: keys)
    defer { Task { await f.stop() } }
    let officer = try await f.client(["workforce.officer"])
    let p = try await officer.registerPerson(newPerson(70)).personID
    let check = try await f.client(["workforce.eligibility"], subject: "agency")
    #expect(try await check.checkEligibility(.with { $0.idNumber = newPerson(70).idNumber }).eligible)
    _ = try await officer.banPerson(
      .with {
        $0.requestID = "ban-70"
        $0.person = ref(p)
        $0.decision = .with {
          $0.caseNumber = "C-70"
          $0.authority = "法院"
          $0.decidedOn = date("2025-06-01")
          $0.reason = "虐待"
        }
      })
    #expect(try await check.checkEligibility(.with { $0.idNumber = newPerson(70).idNumber }).eligible == false)
    #expect(try await check.checkEligibility(.with { $0.idNumber = newPerson(71).idNumber }).eligible)
    #expect(
      try await f.count(
        "SELECT count(*) FROM audit_log WHERE principal = 'agency' AND target = \("people/\(p)") AND outcome = 'OK: not eligible'"
      ) == 1)
    #expect(try await f.count("SELECT count(*) FROM audit_log WHERE principal = 'agency'") == 3)
  }

  @Test func concurrentEnrolmentNeverOverbooks() async throws {
    let f = try await WorkforceFixture.start()
    defer { Task { await f.stop() } }
    let admin = try await f.client(["workforce.admin"])
    let officer = try await f.client(["workforce.officer"])
    let session = try await preJobSession(admin, officer, capacity: 5, ends: "2025-06-30")
    var people: [Int64] = []
    for n in 10..<30 { people.append(try await officer.registerPerson(newPerson(n)).personID) }
    let outcomes = await withTaskGroup(of: Status.Code.self) { group in
      for (i, p) in people.enumerated() {
        group.addTask {
          do {
            let c = try await f.client(["workforce.officer"])
            _ = try await c.enrol(
              .with {
                $0.requestID = "enrol-race-\(i)"
                $0.sessionID = session
                $0.person = ref(p)
              })
            return .ok
          } catch let e as RPCError {
            return e.code
          } catch {
            return .unknown
          }
        }
      }
      var all: [Status.Code] = []
      for await c in group { all.append(c) }
      return all
    }
    #expect(outcomes.filter { $0 == .ok }.count == 5)
    #expect(outcomes.filter { $0 == .failedPrecondition }.count == 15)
    #expect(try await f.count("SELECT count(*) FROM enrolment") == 5)
    #expect(try await f.count("SELECT enrolled FROM training_session") == 5)
  }

  @Test func anEmployerReachesOnlyItsOwnStaffAndAnOfficerOnlyTheirRegion() async throws {
    let f = try await WorkforceFixture.start()
    defer { Task { await f.stop() } }
    try await f.institution(codeA, cursor: 1)
    try await f.institution(codeB, cursor: 2)
    try await f.institution(codeC, county: "330503", cursor: 3)
    let officer = try await f.client(["workforce.officer"])
    var staff: [String: Int64] = [:]
    for (n, code) in [(40, codeA), (41, codeB), (42, codeC)] {
      let p = try await officer.registerPerson(newPerson(n)).personID
      _ = try await hire(officer, p, code, .cook, id: "cook-\(n)")
      staff[code] = p
    }
    let employerA = try await f.client(["workforce.employer"], subject: "boss-a", institution: codeA)
    let own = try await employerA.listStaff(.init())
    #expect(own.employments.map(\.creditCode) == [codeA])
    await expectCode(.notFound) { _ = try await employerA.listStaff(.with { $0.creditCode = codeB }) }
    await expectCode(.notFound) { _ = try await employerA.getPerson(.with { $0.person = ref(staff[codeB]!) }) }
    await expectCode(.notFound) { _ = try await employerA.getCompliance(.with { $0.creditCode = codeB }) }
    await expectCode(.notFound) { _ = try await hire(employerA, staff[codeB]!, codeB, .cook, id: "steal") }
    #expect(try await employerA.getPerson(.with { $0.person = ref(staff[codeA]!) }).idNumber.contains("*"))
    // An employer's token without its institution is refused.
    let bare = try await f.client(["workforce.employer"], subject: "boss-x")
    await expectCode(.permissionDenied) { _ = try await bare.listStaff(.init()) }
    // A county officer reads their county, not the next one.
    let nanxun = try await f.client(["workforce.officer"], subject: "nanxun", region: "330503")
    #expect(try await nanxun.listStaff(.init()).employments.map(\.creditCode) == [codeC])
    await expectCode(.permissionDenied) { _ = try await nanxun.listStaff(.with { $0.regionCode = "330502" }) }
    await expectCode(.notFound) { _ = try await nanxun.getPerson(.with { $0.person = ref(staff[codeA]!) }) }
    await expectCode(.permissionDenied) { _ = try await nanxun.listCompliance(.with { $0.regionCode = "330500" }) }
    // Only the identity role sees the number.
    let identity = try await f.client(["workforce.officer", "workforce.identity"])
    #expect(try await identity.getPerson(.with { $0.person = ref(staff[codeA]!) }).idNumber == newPerson(40).idNumber)
  }

  /// No ID number in plain text anywhere in the schema: people, audit rows, idempotency records,
  /// the outbox.
  @Test func noPlainIDNumberInTheDatabase() async throws {
    let f = try await WorkforceFixture.start()
    defer { Task { await f.stop() } }
    try await f.institution(codeA, cursor: 1)
    let officer = try await f.client(["workforce.officer"])
    let ids = (50..<55).map { newPerson($0).idNumber }
    for n in 50..<55 {
      let p = try await officer.registerPerson(newPerson(n))
      _ = try await hire(officer, p.personID, codeA, .cook, id: "cook-\(n)")
      _ = try await officer.getPerson(.with { $0.person.idNumber = newPerson(n).idNumber })
    }
    _ = try await officer.checkEligibility(.with { $0.idNumber = ids[0] })
    await expectCode(.alreadyExists) { _ = try await officer.registerPerson(newPerson(50).with("again")) }
    let tables = try await f.pool.query(
      "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
    ).map { try $0.decode(String.self, at: 0) }
    #expect(tables.contains("person") && tables.contains("audit_log") && tables.contains("idempotency"))
    var dump = ""
    for t in tables {
      for row in try await f.pool.query(PostgresQuery(unsafeSQL: "SELECT t::text FROM \"\(t)\" t")) {
        dump += try row.decode(String.self, at: 0) + "\n"
      }
    }
    #expect(dump.contains(PersonalDataVault.mask(ids[0])))
    for id in ids {
      #expect(!dump.contains(id), "a plain ID number is stored")
      #expect(!dump.contains(id.dropFirst(4).prefix(12)), "the hidden digits of an ID number are stored")
    }
  }

  @Test func importRegistersHiresAndCertifiesPerRow() async throws {
    let f = try await WorkforceFixture.start()
    defer { Task { await f.stop() } }
    try await f.institution(codeA, cursor: 1)
    let officer = try await f.client(["workforce.officer"])
    func row(
      _ n: Int32, _ person: Int, code: String = codeA, role: Tuoyu_Workforce_V1_StaffRole = .cook
    )
      -> Tuoyu_Workforce_V1_StaffImportRow
    {
      .with {
        $0.row = n
        $0.displayName = newPerson(person).displayName
        $0.idNumber = newPerson(person).idNumber
        $0.creditCode = code
        $0.role = role
        $0.startDate = date("2025-05-01")
        $0.certificateKind = .health
        $0.certificate = .with {
          $0.number = "JK-\(person)"
          $0.issuer = "湖州市妇幼保健院"
          $0.issued = date("2025-04-01")
          $0.expires = date("2026-03-31")
        }
      }
    }
    var bad = row(4, 63)
    bad.idNumber = "330502199001010630"  // a wrong check character
    let rows = [row(1, 60), row(2, 61), row(3, 62, role: .caregiver), bad, row(5, 60), row(6, 64, code: codeB)]
    let call = try await officer.importStaff()
    for r in rows { try await call.send(r) }
    try await call.end()
    let response = try #require(try await call.receive())
    #expect(response.received == 6)
    #expect(response.imported == 2)
    #expect(response.unchanged == 1)
    #expect(response.failures.map(\.row) == [3, 4, 6])
    #expect(
      response.failures.map(\.rule) == ["hire.caregiver-pre-job-training", "id-number.valid", "hire.institution-known"])
    #expect(!response.failures.contains { $0.message.contains("330502199001010630") })
    #expect(try await f.count("SELECT count(*) FROM person") == 2)
    #expect(try await f.count("SELECT count(*) FROM certificate") == 2)
  }
}

extension Tuoyu_Workforce_V1_RegisterPersonRequest {
  func with(_ requestID: String) -> Self {
    var r = self
    r.requestID = requestID
    return r
  }
}
