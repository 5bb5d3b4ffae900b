import API
import Foundation
import Postgres
import RPC
import RegistryView
import ServiceKit
import SwiftProtobuf
import WorkforceAPI

public typealias Workforce = Tuoyu_Workforce_V1_Workforce

/// `tuoyu.workforce.v1.Workforce`: people (ID numbers through the personal-data vault),
/// employment, certificates and health checks, training, lifetime bans with the eligibility
/// check, compliance and indicators, bulk import. One file per resource: People, Employment,
/// Certificates, Training, Bans, Compliance, Import; the registry's feed through RegistryView.
public struct WorkforceService: Workforce.ServiceProtocol {
  let pool: PostgresPool
  let vault: PersonalDataVault
  /// Today in China; a parameter so tests can pin it.
  let today: @Sendable () -> LocalDate

  public init(
    pool: PostgresPool, vault: PersonalDataVault, today: @escaping @Sendable () -> LocalDate = { LocalDate.today() }
  ) {
    self.pool = pool
    self.vault = vault
    self.today = today
  }

  /// The service's own migrations (0100 and up), shipped as a resource.
  public static var migrations: URL? { Bundle.module.url(forResource: "Migrations", withExtension: nil) }

  // MARK: Roles

  /// Who sees unmasked ID numbers.
  public static let identityRole = "workforce.identity"

  /// Who may call what. Officers of hrss do the work; an employer's token (naming its institution)
  /// reaches only its own staff; approvers approve annulments; other agencies may ask eligibility.
  public static var policy: AccessPolicy {
    var p = AccessPolicy()
    let M = Workforce.Method.self
    let officers: Set<String> = ["workforce.officer", "workforce.admin"]
    let employers: Set<String> = ["workforce.employer"]
    let readers = officers.union(["workforce.approver", "workforce.viewer"]).union(Roles.crossServiceReaders)
    for m in [M.getPerson, M.listStaff, M.listCourses, M.listSessions, M.getCompliance, M.listCompliance] {
      p.allow(m, roles: readers.union(employers))
    }
    for m in [M.listBans, M.getIndicators] { p.allow(m, roles: readers) }
    for m in [
      M.registerPerson, M.updatePerson, M.hireStaff, M.endEmployment, M.addCertificate, M.recordHealthCheck, M.enrol,
    ] {
      p.allow(m, roles: officers.union(employers))
    }
    for m in [M.createSession, M.recordAttendance, M.banPerson, M.requestAnnulment, M.importStaff] {
      p.allow(m, roles: officers)
    }
    p.allow(M.createCourse, roles: ["workforce.admin"])
    p.allow(M.approveAnnulment, roles: ["workforce.approver"])
    p.allow(
      M.checkEligibility,
      roles: officers.union(employers).union(["workforce.eligibility", Roles.service, "workforce.approver"]))
    return p
  }

  // MARK: Shared checks

  /// The day a request names, or today when it names none; a bad date is refused.
  func day(_ d: Tuoyu_Common_V1_Date, field: String, default fallback: LocalDate? = nil) throws(Refusal) -> LocalDate {
    if d == Tuoyu_Common_V1_Date() { return fallback ?? today() }
    guard let day = LocalDate(d) else {
      throw Refusal.invalid(field, rule: "date.valid", "\(d.year)-\(d.month)-\(d.day) is not a date")
    }
    return day
  }

  /// A short, keyed tag of an ID number (never the number): what idempotency digests and audit
  /// rows see of a request that carries one.
  func tag(_ id: String) -> String { vault.tag(id) }

  /// Lower-case hex of `bytes` (a keyed hash as the person table stores it).
  public static func hex(_ bytes: some Sequence<UInt8>) -> String { PersonalDataVault.hex(bytes) }

  func redacted(_ ref: Tuoyu_Workforce_V1_PersonRef) -> Tuoyu_Workforce_V1_PersonRef {
    var r = ref
    r.idNumber = tag(ref.idNumber)
    return r
  }

  /// The hex keyed hashes of `id` under every vault key (to find it whichever key stored it).
  func hashes(_ id: String) -> [String] {
    vault.lookupHashes(id).map { Self.hex($0.hash) }
  }

  /// The person a reference names, visible to the caller; NOT_FOUND otherwise (also when the
  /// person exists but is outside the caller's reach, so nothing is revealed).
  func person(
    _ tx: PostgresSession, _ ref: Tuoyu_Workforce_V1_PersonRef, field: String = "person", _ scope: Scope,
    forUpdate: Bool = false
  ) async throws -> Int64 {
    let id: Int64?
    switch (ref.personID, ref.idNumber.isEmpty) {
    case (0, true), (1..., false):
      throw Refusal.invalid(
        field, rule: "person.reference", "name the person by person_id or by id_number, one of them")
    case (_, true):
      id = try await WorkforceStore.personExists(tx, ref.personID, lock: forUpdate) ? ref.personID : nil
    default:
      if let refusal = Identity.refusal(ref.idNumber, field: "\(field).id_number", today: today()) { throw refusal }
      id = try await WorkforceStore.personID(tx, hashes: hashes(ref.idNumber), lock: forUpdate)
    }
    guard let id, try await WorkforceStore.visible(tx, person: id, scope, on: today()) else {
      throw Refusal(.notFound, rule: "person.known", field: field, "no such person")
    }
    return id
  }
}

extension WorkforceService {
  /// The service as an executable runs it: the vault from `--vault-key-file`, and the registry's
  /// feed followed from `--peer-registry` with the service token.
  @Sendable public static func build(_ deps: ServiceDependencies) throws -> [any RPCService] {
    guard let file = deps.configuration.vaultKeyFile else {
      throw ConfigurationError("--vault-key-file (or TUOYU_VAULT_KEY_FILE) is required: the personal-data vault's keys")
    }
    let vault: PersonalDataVault
    do { vault = try PersonalDataVault(keyFile: file) } catch { throw ConfigurationError("\(error)") }
    deps.addBackground(
      RegistryView.follower(pool: deps.pool, client: try deps.peer(RegistryView.source), logger: deps.logger))
    return [WorkforceService(pool: deps.pool, vault: vault)]
  }
}
