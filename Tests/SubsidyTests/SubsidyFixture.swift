import API
import Foundation
import InspectionAPI
import Postgres
import RPC
import RegistryAPI
import RegistryCore
import RegistryView
import ServiceKit
import ServiceKitTesting
import SubsidyAPI
import SubsidyCore
import SwiftProtobuf
import Testing

typealias S = Tuoyu_Subsidy_V1_Subsidy
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

/// A resident ID number born on `birth` (YYYYMMDD), with a sequence, and its check character.
func idNumber(_ birth: String, _ seq: Int) -> String {
  ResidentID.complete("330502" + birth + String(format: "%03d", seq % 1000))!
}

/// A real registry (the institution filed 普惠 in 330502) and the subsidy service asking it with
/// its service token; inspection's and the registry's feeds told by events applied as the
/// followers would apply them.
final class Fixture: Sendable {
  let registry: TestService
  let subsidy: TestService

  init(registry: TestService, subsidy: TestService) {
    self.registry = registry
    self.subsidy = subsidy
  }

  static func start() async throws -> Fixture {
    let registry = try await TestService.start(
      name: "registry", migrations: RegistryService.migrations!, policy: RegistryService.policy,
      services: { [RegistryService(pool: $0, today: { today })] })
    let token = try await registry.issuer.issue(
      TokenClaims(subject: "subsidy", department: "finance", roles: [Roles.service], lifetime: 3600))
    var config = RPCClient.Configuration(host: "127.0.0.1", port: registry.running.port)
    config.defaultMetadata.addString("Bearer \(token)", forKey: "authorization")
    let client = try RPCClient(configuration: config)
    let vault = try PersonalDataVault(keys: [.init(id: "k1", secret: [UInt8](repeating: 7, count: 32))])
    let subsidy = try await TestService.start(
      name: "subsidy", migrations: SubsidyService.migrations!, sharedMigrations: [RegistryView.migrations!],
      policy: SubsidyService.policy,
      build: { deps in
        [SubsidyService(pool: deps.pool, vault: vault, registry: RegistryClientLookup(client), today: { today })]
      })
    return Fixture(registry: registry, subsidy: subsidy)
  }

  func client(
    _ roles: [String], subject: String, institution: String? = nil, region: String? = nil
  ) async throws
    -> S.Client
  {
    S.Client(try await subsidy.client(roles, subject: subject, institution: institution, region: region))
  }

  /// One inspection event, applied as the subsidy's follower applies it (exactly once).
  @discardableResult
  func inspectionEvent(_ type: String, _ message: some SwiftProtobuf.Message, cursor: Int64) async throws -> Bool {
    try await ChangeFeedConsumer(source: "inspection", pool: subsidy.pool).apply(
      .with {
        $0.cursor = cursor
        $0.eventType = type
        $0.payloadJson = try! message.jsonString()
      }, SubsidyCore.InspectionFollower.apply(today: { today }))
  }

  func acceptance(_ id: Int64, seats: Int32, code: String = code, cursor: Int64) async throws -> Bool {
    try await inspectionEvent(
      "acceptance.confirmed",
      Tuoyu_Inspection_V1_AcceptanceEvent.with {
        $0.acceptanceID = id
        $0.year = 2025
        $0.creditCode = code
        $0.countyCode = "330502"
        $0.confirmedSeats = seats
      }, cursor: cursor)
  }

  /// The registry's event for the institution, into the subsidy's view of it.
  func institutionView(
    _ code: String = code, status: String = "filed", inclusive: Bool = true, version: Int64
  )
    async throws
  {
    let e = Tuoyu_Registry_V1_InstitutionEvent.with {
      $0.creditCode = code
      $0.displayName = "示例托育"
      $0.status = status
      $0.version = Int32(version)
      $0.countyCode = "330502"
      $0.inclusive = inclusive
    }
    try await ChangeFeedConsumer(source: "registry", pool: subsidy.pool).apply(
      .with {
        $0.cursor = version
        $0.eventType = "institution.\(status)"
        $0.payloadJson = try! e.jsonString()
      }, RegistryView.apply)
  }

  /// Budgets for 2025 (yuan) of the city and the county.
  func budgets(_ programme: Tuoyu_Subsidy_V1_Programme, city: Int64, county: Int64) async throws {
    let admin = try await client([SubsidyService.admin], subject: "admin")
    for (region, yuan) in [("330500", city), ("330502", county)] {
      _ = try await admin.putBudget(
        .with {
          $0.requestID = "budget-\(programme)-\(region)-\(yuan)"
          $0.year = 2025
          $0.regionCode = region
          $0.programme = programme
          $0.amount.fen = yuan * 100
        })
    }
  }

  /// Regions and the institution registered, submitted and filed 普惠 in the registry.
  func fileInRegistry() async throws {
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
          if level == .county {
            $0.years = [
              .with {
                $0.year = 2025; $0.averageMonthlyFee.fen = 250_000
              }
            ]
          }
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
      $0.inclusive = true
      $0.monthlyFee.fen = 150_000
      $0.seats.toddler = .with {
        $0.classes = 10
        $0.seats = 150
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

  func stop() async {
    await subsidy.stop()
    await registry.stop()
  }
}
