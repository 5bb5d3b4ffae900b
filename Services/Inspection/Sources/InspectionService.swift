import API
import Foundation
import Postgres
import RPC
import RegistryView
import ServiceKit
import SwiftProtobuf
import InspectionAPI

public typealias Inspections = Tuoyu_Inspection_V1_Inspections

/// `tuoyu.inspection.v1.Inspections`: versioned checklists, three-level inspections, rectification
/// orders, credit grades and the acceptance of new 普惠 seats. One file per resource: Checklists,
/// Inspections (+ finalising), Orders, Grades, Acceptances. Institutions come from the registry's
/// change feed (`RegistryView`); a critical finding reaches the registry through this service's
/// own feed (`inspection.finalised`), which the registry follows.
public struct InspectionService: Inspections.ServiceProtocol {
  let pool: PostgresPool
  /// Today in China; a parameter so tests can pin it.
  let today: @Sendable () -> LocalDate

  public init(pool: PostgresPool, today: @escaping @Sendable () -> LocalDate = { LocalDate.today() }) {
    self.pool = pool
    self.today = today
  }

  /// The service's own migrations (0100 and up), shipped as a resource.
  public static var migrations: URL? { Bundle.module.url(forResource: "Migrations", withExtension: nil) }

  /// The role that records inspections at each level: a township inspector records township
  /// inspections, and so on up (三级联动).
  public static let inspectorRole: [Tuoyu_Inspection_V1_Level: String] = [
    .township: "inspection.township-inspector", .county: "inspection.county-inspector",
    .city: "inspection.city-inspector",
  ]
  /// The county accepts new seats; the city reviews (复核) and confirms.
  public static let countyAcceptor = "inspection.county-acceptor"
  public static let cityReviewer = "inspection.city-reviewer"
  /// An institution's own token (naming it): reports its rectifications.
  public static let institutionRole = "inspection.institution"

  public static var policy: AccessPolicy {
    var p = AccessPolicy()
    let M = Inspections.Method.self
    let inspectors = Set(inspectorRole.values)
    let readers = inspectors.union([countyAcceptor, cityReviewer, "inspection.admin", "inspection.viewer"])
      .union(Roles.crossServiceReaders)
    for m in [
      M.getChecklist, M.getInspection, M.listInspections, M.getGrade, M.listGrades, M.listAcceptances,
    ] {
      p.allow(m, roles: readers)
    }
    p.allow(M.publishChecklist, roles: ["inspection.admin"])
    for m in [M.putPlan, M.putDeadlineRules, M.putCreditRules] { p.allow(m, roles: ["inspection.admin"]) }
    p.allow(M.getCoverage, roles: readers)
    for m in [M.recordInspection, M.recordResults, M.finaliseInspection, M.verifyRectification, M.rejectRectification] {
      p.allow(m, roles: inspectors)
    }
    // Verifying and rejecting are inspectors' only (above); an institution reports and reads its own.
    p.allow(M.reportRectified, roles: inspectors.union([institutionRole]))
    p.allow(M.listOrders, roles: readers.union([institutionRole]))
    p.allow(M.acceptSeats, roles: [countyAcceptor])
    p.allow(M.confirmAcceptance, roles: [cityReviewer])
    return p
  }

  // MARK: Shared checks

  /// The day a request names, or today; a bad day is refused, and a future one unless asked
  /// (`as_of` may look ahead: which orders will be overdue).
  func day(_ d: Tuoyu_Common_V1_Date, field: String, future: Bool = false) throws(Refusal) -> LocalDate {
    let now = today()
    if d == Tuoyu_Common_V1_Date() { return now }
    guard let day = LocalDate(d) else {
      throw Refusal.invalid(field, rule: "date.valid", "\(d.year)-\(d.month)-\(d.day) is not a date")
    }
    guard future || day <= now else { throw Refusal.invalid(field, rule: "date.not-future", "\(day) is in the future") }
    return day
  }

  /// The region a caller's token limits them to (nil: everywhere); a region outside it is refused.
  func require(region county: String, _ context: ServerContext, field: String = "credit_code") throws(Refusal) {
    try RegistryView.require(county: county, withinRegionOf: context, field: field)
  }

  static func severity(_ s: Severity) -> Tuoyu_Inspection_V1_Severity {
    switch s {
    case .minor: .minor
    case .major: .major
    case .critical: .critical
    }
  }

  static func severity(_ s: Tuoyu_Inspection_V1_Severity) -> Severity? {
    switch s {
    case .minor: .minor
    case .major: .major
    case .critical: .critical
    default: nil
    }
  }
}

extension InspectionService {
  /// The service as an executable runs it: the registry's feed followed from `--peer-registry`.
  @Sendable public static func build(_ deps: ServiceDependencies) throws -> [any RPCService] {
    deps.addBackground(
      RegistryView.follower(pool: deps.pool, client: try deps.peer(RegistryView.source), logger: deps.logger))
    return [InspectionService(pool: deps.pool)]
  }
}
