import API
import Postgres
import RPC
import RegistryView
import ServiceKit
import WorkforceAPI

extension WorkforceService {
  /// One institution's staffing on a day (default today) against its filed seats.
  public func getCompliance(
    request: Tuoyu_Workforce_V1_GetComplianceRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_InstitutionCompliance {
    let scope = try Scope.of(context)
    let day = try day(request.asOf, field: "as_of")
    return try await pool.withConnection { db in
      guard let inst = try await WorkforceStore.institution(db, request.creditCode),
        scope.covers(creditCode: inst.creditCode, county: inst.county)
      else {
        throw Refusal(
          .notFound, rule: "institution.known", field: "credit_code",
          "no institution \(request.creditCode) within your reach")
      }
      return try await compliance(db, [inst], on: day)[0]
    }
  }

  /// The filed institutions of a county or the city on a day, a page at a time (up to 1,000).
  public func listCompliance(
    request: Tuoyu_Workforce_V1_ListComplianceRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_ListComplianceResponse {
    let scope = try Scope.of(context)
    guard scope.covers(region: request.regionCode) else {
      throw Refusal(
        .permissionDenied, rule: "access.scope", field: "region_code",
        "region \(request.regionCode) is outside your reach")
    }
    let day = try day(request.asOf, field: "as_of")
    let size = try PageToken.size(request.pageSize, default: 200, max: 1000)
    let filters = "\(request.regionCode)|\(day)"
    let after = try PageToken.read(request.pageToken, filters: filters)
    return try await pool.withConnection { db in
      let page = try await WorkforceStore.filedInstitutions(
        db, counties: RegistryView.counties(of: request.regionCode), after: after, limit: size + 1)
      let shown = Array(page.prefix(size))
      var response = Tuoyu_Workforce_V1_ListComplianceResponse()
      response.institutions = try await compliance(db, shown, on: day)
      if page.count > size, let last = shown.last {
        response.nextPageToken = PageToken.make(after: last.creditCode, filters: filters)
      }
      return response
    }
  }

  func compliance(
    _ db: PostgresSession, _ institutions: [WorkforceStore.InstitutionRow], on day: LocalDate
  ) async throws
    -> [Tuoyu_Workforce_V1_InstitutionCompliance]
  {
    let rules = try await WorkforceStore.rules(db)
    let staff = try await WorkforceStore.members(db, institutions: institutions.map(\.creditCode), on: day)
    return institutions.map { inst in
      var c = Staffing.compliance(
        creditCode: inst.creditCode, name: inst.name, county: inst.county, classes: inst.classes,
        staff: staff[inst.creditCode] ?? [], rules: rules, on: day)
      if inst.status != "filed" { c.findings.insert("the institution is \(inst.status) in the registry", at: 0) }
      return c
    }
  }

  /// Per county and for the city: the certification rate against 85 %, newly certified against
  /// 3,000 a year, trained against 10,000 in all (as of the year's end, or today in the current
  /// year).
  public func getIndicators(
    request: Tuoyu_Workforce_V1_GetIndicatorsRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_GetIndicatorsResponse {
    let scope = try Scope.of(context)
    let now = today()
    let yearEnd = LocalDate(year: Int(request.year), month: 12, day: 31)!
    let day = min(yearEnd, now)
    let (figures, cityYear, cityCumulative) = try await pool.withConnection {
      try await WorkforceStore.indicatorFigures($0, year: request.year, day: day)
    }
    var out: [Tuoyu_Workforce_V1_WorkforceIndicators] = []
    var cities: [String: WorkforceStore.CountyFigures] = [:]
    for (county, f) in figures.sorted(by: { $0.key < $1.key }) {
      let city = county.count == 6 ? String(county.prefix(4)) + "00" : ""
      var c = cities[city, default: .init()]
      c.certifiable += f.certifiable
      c.certified += f.certified
      c.newlyCertified += f.newlyCertified
      c.hoursInYear += f.hoursInYear
      cities[city] = c
      guard !county.isEmpty, county != city, scope.covers(region: county) else { continue }
      out.append(indicators(county, request.year, f, city: false))
    }
    for (city, var f) in cities.sorted(by: { $0.key < $1.key }) where !city.isEmpty && scope.covers(region: city) {
      // The city counts a person trained in two counties once.
      f.trainedInYear = cityYear
      f.trainedCumulative = cityCumulative
      // People no employment places count for the city.
      f.newlyCertified += cities[""]?.newlyCertified ?? 0
      out.append(indicators(city, request.year, f, city: true))
    }
    return .with { $0.regions = out }
  }

  func indicators(
    _ region: String, _ year: Int32, _ f: WorkforceStore.CountyFigures, city: Bool
  )
    -> Tuoyu_Workforce_V1_WorkforceIndicators
  {
    .with {
      $0.regionCode = region
      $0.year = year
      $0.certifiableStaff = Int32(clamping: f.certifiable)
      $0.certifiedStaff = Int32(clamping: f.certified)
      $0.certificationPermille = Staffing.permille(f.certified, of: f.certifiable)
      $0.certificationTargetPermille = Targets.certificationPermille
      $0.newlyCertified = Int32(clamping: f.newlyCertified)
      $0.newlyCertifiedTarget = city ? Targets.newlyCertifiedPerYear : 0
      $0.trainedInYear = Int32(clamping: f.trainedInYear)
      $0.trainedCumulative = Int32(clamping: f.trainedCumulative)
      $0.trainedTarget = city ? Targets.trainedCumulative : 0
      $0.trainingHoursInYear = f.hoursInYear
    }
  }
}
