import API
import Foundation
import Logging
import NIOConcurrencyHelpers
import Postgres
import RPC
import RegistryAPI
import RegistryView
import ServiceKit
import SubsidyAPI
import SwiftProtobuf

public typealias Subsidy = Tuoyu_Subsidy_V1_Subsidy

/// `tuoyu.subsidy.v1.Subsidy`, the finance bureau's: policy and budgets (Policies), children and
/// enrolments (Children), applications and their workflow (Applications), payments, the ledger and
/// reconciliation (Payments), holds and reports (Holds). Seat awards come from inspection's
/// `acceptance.confirmed` events, holds from its findings (`InspectionFollower`); institutions
/// from the registry's feed (`RegistryView`) and, at an award's approval, from the registry itself.
public struct SubsidyService: Subsidy.ServiceProtocol {
  let pool: PostgresPool
  let vault: PersonalDataVault
  let registry: any RegistryLookup
  /// Today in China; a parameter so tests can pin it.
  let today: @Sendable () -> LocalDate

  public init(
    pool: PostgresPool, vault: PersonalDataVault, registry: any RegistryLookup,
    today: @escaping @Sendable () -> LocalDate = { LocalDate.today() }
  ) {
    self.pool = pool
    self.vault = vault
    self.registry = registry
    self.today = today
  }

  /// The service's own migrations (0100 and up), shipped as a resource.
  public static var migrations: URL? { Bundle.module.url(forResource: "Migrations", withExtension: nil) }

  // MARK: Roles

  public static let admin = "subsidy.admin"
  /// A county's officer: children, enrolments, claims, upper-level funds.
  public static let countyOfficer = "subsidy.county-officer"
  /// An institution's token (naming it): claims for the children enrolled there.
  public static let institutionRole = "subsidy.institution"
  public static let countyReviewer = "subsidy.county-reviewer"
  public static let financeApprover = "subsidy.finance-approver"
  /// Pays and reconciles.
  public static let treasurer = "subsidy.treasurer"

  public static var policy: AccessPolicy {
    var p = AccessPolicy()
    let M = Subsidy.Method.self
    let staff: Set<String> = [admin, countyOfficer, countyReviewer, financeApprover, treasurer, "subsidy.viewer"]
    let readers = staff.union(Roles.crossServiceReaders)
    for m in [
      M.getPolicy, M.getApplication, M.listApplications, M.listLedger, M.getBalances, M.listHolds, M.getReport,
    ] {
      p.allow(m, roles: readers)
    }
    p.allow(M.getChild, roles: staff)
    for m in [M.putPolicy, M.putBudget] { p.allow(m, roles: [admin]) }
    for m in [M.registerChild, M.updateChild, M.enrolChild, M.endEnrolment, M.importChildren, M.claimMonth] {
      p.allow(m, roles: [countyOfficer])
    }
    p.allow(M.claimChild, roles: [countyOfficer, institutionRole])
    p.allow(M.assignUpperFunds, roles: [countyOfficer, financeApprover])
    p.allow(M.reviewApplications, roles: [countyReviewer])
    p.allow(M.approveApplications, roles: [financeApprover])
    p.allow(M.rejectApplication, roles: [countyReviewer, financeApprover])
    for m in [M.disburse, M.reversePayment, M.reconcile] { p.allow(m, roles: [treasurer]) }
    return p
  }

  // MARK: Shared checks

  /// The day a request names, or today; a bad day is refused.
  func day(_ d: Tuoyu_Common_V1_Date, field: String) throws(Refusal) -> LocalDate {
    if d == Tuoyu_Common_V1_Date() { return today() }
    guard let day = LocalDate(d) else {
      throw Refusal.invalid(field, rule: "date.valid", "\(d.year)-\(d.month)-\(d.day) is not a date")
    }
    return day
  }

  /// The first day of the month a request names (its day ignored); not after this month.
  func month(_ d: Tuoyu_Common_V1_Date, field: String = "month") throws(Refusal) -> LocalDate {
    guard let first = LocalDate(year: Int(d.year), month: Int(d.month), day: 1) else {
      throw Refusal.invalid(field, rule: "date.valid", "\(d.year)-\(d.month) is not a month")
    }
    let now = today()
    guard (first.year, first.month) <= (now.year, now.month) else {
      throw Refusal.invalid(field, rule: "claim.not-future", "\(first.year)-\(first.month) has not begun")
    }
    return first
  }

  /// The region a caller's token limits them to; a county outside it is NOT_FOUND (nothing revealed).
  func require(county: String, _ context: ServerContext, field: String) throws(Refusal) {
    try RegistryView.require(county: county, withinRegionOf: context, field: field)
  }

  /// The counties a listing covers: the region asked for (within the caller's), or the caller's.
  func counties(_ asked: String, _ context: ServerContext) throws(Refusal) -> ClosedRange<String>? {
    let own = Principal.caller(context).region ?? ""
    if asked.isEmpty { return own.isEmpty ? nil : RegistryView.counties(of: own) }
    if !own.isEmpty {
      let mine = RegistryView.counties(of: own)
      let wanted = RegistryView.counties(of: asked)
      guard mine.contains(wanted.lowerBound), mine.contains(wanted.upperBound) else {
        throw Refusal(.notFound, rule: "access.scope", field: "region_code", "not within your region \(own)")
      }
    }
    return RegistryView.counties(of: asked)
  }

  /// A region the registry knows, or a clear refusal (the registry is asked; known codes are kept).
  func requireKnown(region code: String, field: String, county: Bool) async throws {
    guard code.utf8.count == 6, code.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
      throw Refusal.invalid(field, rule: "region.code", "a region code is 6 digits")
    }
    if county && code.hasSuffix("00") {
      throw Refusal.invalid(field, rule: "region.county", "\(code) is a city: name a county")
    }
    guard try await registry.regionKnown(code) else {
      throw Refusal.invalid(field, rule: "region.known", "unknown region \(code)")
    }
  }

  static func programme(_ p: Tuoyu_Subsidy_V1_Programme) -> Programme? {
    switch p {
    case .seatAward: .seatAward
    case .enrolment: .enrolment
    case .milk: .milk
    default: nil
    }
  }

  static func programme(_ p: Programme) -> Tuoyu_Subsidy_V1_Programme {
    switch p {
    case .seatAward: .seatAward
    case .enrolment: .enrolment
    case .milk: .milk
    }
  }

  static func programme(_ text: String) -> Tuoyu_Subsidy_V1_Programme {
    Programme(rawValue: text).map(programme) ?? .unspecified
  }

  static func payer(_ p: Tuoyu_Subsidy_V1_Payer) -> Payer? {
    switch p {
    case .city: .city
    case .county: .county
    default: nil
    }
  }

  static func payer(_ text: String) -> Tuoyu_Subsidy_V1_Payer {
    switch Payer(rawValue: text) {
    case .city: .city
    case .county: .county
    case nil: .unspecified
    }
  }

  static func status(_ text: String) -> Tuoyu_Subsidy_V1_ApplicationStatus {
    switch ApplicationStatus(rawValue: text) {
    case .submitted: .submitted
    case .reviewed: .reviewed
    case .approved: .approved
    case .disbursed: .disbursed
    case .rejected: .rejected
    case nil: .unspecified
    }
  }

  static func status(_ s: Tuoyu_Subsidy_V1_ApplicationStatus) -> ApplicationStatus? {
    switch s {
    case .submitted: .submitted
    case .reviewed: .reviewed
    case .approved: .approved
    case .disbursed: .disbursed
    case .rejected: .rejected
    default: nil
    }
  }

  static func money(_ fen: Int64) -> Tuoyu_Common_V1_Money { .with { $0.fen = fen } }
}

// MARK: The registry, as the subsidy asks it

/// What the subsidy asks the registry at the moment of a decision.
public protocol RegistryLookup: Sendable {
  /// The institution's status ("filed", "suspended", …) and 普惠 flag; nil when the registry has none.
  func institution(_ creditCode: String) async throws -> (status: String, inclusive: Bool, county: String)?
  func regionKnown(_ code: String) async throws -> Bool
}

/// The registry through its client, with the service's own token. A region once known stays known
/// (regions are never deleted), so it is asked once per code.
public final class RegistryClientLookup: RegistryLookup {
  let client: Tuoyu_Registry_V1_Registry.Client
  let known = NIOLockedValueBox<Set<String>>([])

  public init(_ client: RPCClient) { self.client = .init(client) }

  public func institution(_ creditCode: String) async throws -> (status: String, inclusive: Bool, county: String)? {
    do {
      let i = try await client.getInstitution(
        .with { $0.creditCode = creditCode }, options: CallOptions(timeout: .seconds(5)))
      let status: String
      switch i.status {
      case .filed: status = "filed"
      case .suspended: status = "suspended"
      case .revoked: status = "revoked"
      case .registered: status = "registered"
      case .filingSubmitted: status = "filing-submitted"
      case .filingRefused: status = "filing-refused"
      default: status = "unknown"
      }
      return (status, i.facts.inclusive, i.countyCode)
    } catch let e as RPCError where e.code == .notFound {
      return nil
    } catch {
      throw Self.asked(error)
    }
  }

  public func regionKnown(_ code: String) async throws -> Bool {
    if known.withLockedValue({ $0.contains(code) }) { return true }
    do {
      _ = try await client.getRegion(.with { $0.code = code }, options: CallOptions(timeout: .seconds(5)))
      known.withLockedValue { _ = $0.insert(code) }
      return true
    } catch let e as RPCError where e.code == .notFound || e.code == .invalidArgument {
      return false
    } catch {
      throw Self.asked(error)
    }
  }

  /// What a failed question to the registry means to our caller: the registry unreachable, busy
  /// or slow is UNAVAILABLE (retry later); anything else — our token refused, a bad answer — is
  /// this deployment's fault, INTERNAL naming the registry's status.
  static func asked(_ error: any Error) -> RPCError {
    let unreachable = RPCError(
      code: .unavailable, message: "the registry cannot be reached now; retry (rule registry.reachable)")
    // Not a gRPC status at all: the connection failed.
    guard let status = RPCError.status(of: error) else { return unreachable }
    switch status.code {
    case .unavailable, .deadlineExceeded, .resourceExhausted, .cancelled:
      return unreachable
    default:
      return RPCError(
        code: .internal,
        message:
          "the registry refused the subsidy's question (\(status.code)): check the subsidy's service token and peer")
    }
  }
}

extension SubsidyService {
  /// The service as an executable runs it: the vault from `--vault-key-file`; the registry's feed
  /// (`--peer-registry`) and inspection's (`--peer-inspection`) followed; the registry asked at
  /// approval through its client with the service's token.
  @Sendable public static func build(_ deps: ServiceDependencies) throws -> [any RPCService] {
    guard let file = deps.configuration.vaultKeyFile else {
      throw ConfigurationError("--vault-key-file (or TUOYU_VAULT_KEY_FILE) is required: the personal-data vault's keys")
    }
    let vault: PersonalDataVault
    do { vault = try PersonalDataVault(keyFile: file) } catch { throw ConfigurationError("\(error)") }
    let registry = try deps.peer(RegistryView.source)
    deps.addBackground(RegistryView.follower(pool: deps.pool, client: registry, logger: deps.logger))
    deps.addBackground(
      InspectionFollower.follower(
        pool: deps.pool, client: try deps.peer(InspectionFollower.source), logger: deps.logger))
    return [SubsidyService(pool: deps.pool, vault: vault, registry: RegistryClientLookup(registry))]
  }
}
