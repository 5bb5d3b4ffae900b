import API
import RegistryAPI
import Foundation
import Postgres
import RPC
import ServiceKit

/// Opaque page tokens: the last key of the page and the filters it was read with, so a token
/// used with other filters is refused instead of silently skipping rows.
enum PageToken {
  static func make(after: String, filters: String) -> String {
    Data("v1\u{1F}\(after)\u{1F}\(filters)".utf8).base64EncodedString()
  }

  static func read(_ token: String, filters: String) throws(Refusal) -> String {
    if token.isEmpty { return "" }
    guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8) else {
      throw Refusal.invalid("page_token", rule: "paging.token", "not a page token this service issued")
    }
    let parts = text.split(separator: "\u{1F}", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0] == "v1" else {
      throw Refusal.invalid("page_token", rule: "paging.token", "not a page token this service issued")
    }
    guard parts[2] == filters else {
      throw Refusal.invalid("page_token", rule: "paging.same-filters", "the page token was issued for other filters")
    }
    return String(parts[1])
  }

  static func size(_ requested: Int32, default d: Int = 50, max m: Int = 500) throws(Refusal) -> Int {
    guard (0...Int32(m)).contains(requested) else {
      throw Refusal.invalid("page_size", rule: "paging.size", "page_size must be 0–\(m), got \(requested)")
    }
    return requested == 0 ? d : Int(requested)
  }
}

extension RegistryService {
  // MARK: Institutions: reads

  func asOfDay(_ d: Tuoyu_Common_V1_Date) throws(Refusal) -> LocalDate? {
    if d == Tuoyu_Common_V1_Date() { return nil }
    guard let day = LocalDate(d) else {
      throw Refusal.invalid("as_of", rule: "as-of.valid", "\(d.year)-\(d.month)-\(d.day) is not a date")
    }
    return day
  }

  public func getInstitution(
    request: Tuoyu_Registry_V1_GetInstitutionRequest, context: ServerContext
  ) async throws -> Institution {
    try Self.creditCode(request.creditCode)
    let day = try asOfDay(request.asOf)
    return try await pool.withConnection { db in
      guard let day else { return try await RegistryStore.current(db, request.creditCode, forUpdate: false) }
      guard let inst = try await RegistryStore.asOf(db, request.creditCode, day: day) else {
        throw Refusal(
          .notFound, rule: "institution.exists", field: "credit_code",
          "no institution with credit code \(request.creditCode) existed on \(day)")
      }
      return inst
    }
  }

  /// The bodies of the institutions matching the filters, as of `day` (now when nil), in credit
  /// code order after `after`.
  func institutions(
    regionCode: String, mode: Int32, status: String, inclusiveOnly: Bool, day: LocalDate?, after: String, limit: Int
  ) async throws -> [Institution] {
    let rows: PostgresRows
    if let day {
      // As of a day: each institution's latest version on or before it (an index scan in
      // (credit_code, version DESC) order that stops at the page's end).
      rows = try await pool.query(
        """
        WITH v AS (
          SELECT DISTINCT ON (credit_code) credit_code, status, mode, inclusive, township_code, county_code, body
          FROM institution_version
          WHERE credit_code > \(after) AND effective_date <= \(day.description)::date
          ORDER BY credit_code, version DESC)
        SELECT body FROM v
        WHERE (\(mode) = 0 OR mode = \(mode)) AND (\(status) = '' OR status = \(status))
          AND (NOT \(inclusiveOnly) OR inclusive)
          AND (\(regionCode) = '' OR county_code = \(regionCode) OR township_code = \(regionCode)
               OR county_code IN (SELECT code FROM region WHERE parent_code = \(regionCode)))
        ORDER BY credit_code LIMIT \(limit)
        """)
    } else {
      // Now: the current version of each, walked in credit-code order from the page token. With
      // a status (the public listing always has one) the walk is over an index of that status
      // (and county or township), so it reads only the rows it returns.
      let region = regionCode.utf8.count == 9 ? "township" : regionCode.isEmpty ? "" : "county-or-city"
      if !status.isEmpty && region == "township" {
        rows = try await pool.query(
          """
          SELECT v.body FROM institution i
          JOIN institution_version v ON v.credit_code = i.credit_code AND v.version = i.current_version
          WHERE i.status = \(status) AND i.township_code = \(regionCode) AND i.credit_code > \(after)
            AND (\(mode) = 0 OR v.mode = \(mode)) AND (NOT \(inclusiveOnly) OR v.inclusive)
          ORDER BY i.credit_code LIMIT \(limit)
          """)
      } else if !status.isEmpty && region == "county-or-city" {
        rows = try await pool.query(
          """
          SELECT v.body FROM institution i
          JOIN institution_version v ON v.credit_code = i.credit_code AND v.version = i.current_version
          WHERE i.status = \(status) AND i.credit_code > \(after)
            AND (i.county_code = \(regionCode) OR i.county_code IN (SELECT code FROM region WHERE parent_code = \(regionCode)))
            AND (\(mode) = 0 OR v.mode = \(mode)) AND (NOT \(inclusiveOnly) OR v.inclusive)
          ORDER BY i.credit_code LIMIT \(limit)
          """)
      } else if !status.isEmpty {
        rows = try await pool.query(
          """
          SELECT v.body FROM institution i
          JOIN institution_version v ON v.credit_code = i.credit_code AND v.version = i.current_version
          WHERE i.status = \(status) AND i.credit_code > \(after)
            AND (\(mode) = 0 OR v.mode = \(mode)) AND (NOT \(inclusiveOnly) OR v.inclusive)
          ORDER BY i.credit_code LIMIT \(limit)
          """)
      } else {
        rows = try await pool.query(
          """
          SELECT v.body FROM institution i
          JOIN institution_version v ON v.credit_code = i.credit_code AND v.version = i.current_version
          WHERE i.credit_code > \(after)
            AND (\(mode) = 0 OR v.mode = \(mode))
            AND (NOT \(inclusiveOnly) OR v.inclusive)
            AND (\(regionCode) = '' OR i.county_code = \(regionCode) OR i.township_code = \(regionCode)
                 OR i.county_code IN (SELECT code FROM region WHERE parent_code = \(regionCode)))
          ORDER BY i.credit_code LIMIT \(limit)
          """)
      }
    }
    return try rows.map { try Institution(serializedBytes: try $0.decode(PostgresBytes.self, at: 0).bytes) }
  }

  func knownRegion(_ code: String, field: String = "region_code") async throws {
    if code.isEmpty { return }
    let found = try await pool.withConnection { try await RegistryStore.region($0, code) }
    if found == nil { throw Refusal.invalid(field, rule: "region.known", "unknown region \(quoted(code))") }
  }

  public func listInstitutions(
    request: Tuoyu_Registry_V1_ListInstitutionsRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ListInstitutionsResponse {
    let size = try PageToken.size(request.pageSize)
    let day = try asOfDay(request.asOf)
    let status = request.status == .unspecified ? "" : Lifecycle.name(request.status)
    let filters =
      "\(request.regionCode)|\(request.mode.rawValue)|\(status)|\(request.inclusiveOnly)|\(day?.description ?? "")"
    let after = try PageToken.read(request.pageToken, filters: filters)
    try await knownRegion(request.regionCode)
    let found = try await institutions(
      regionCode: request.regionCode, mode: Int32(request.mode.rawValue), status: status,
      inclusiveOnly: request.inclusiveOnly, day: day, after: after, limit: size + 1)
    var response = Tuoyu_Registry_V1_ListInstitutionsResponse()
    response.institutions = Array(found.prefix(size))
    if found.count > size, let last = response.institutions.last {
      response.nextPageToken = PageToken.make(after: last.creditCode, filters: filters)
    }
    return response
  }

  public func listInstitutionHistory(
    request: Tuoyu_Registry_V1_ListInstitutionHistoryRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ListInstitutionHistoryResponse {
    try Self.creditCode(request.creditCode)
    let asOf = try asOfDay(request.asOf)?.description ?? RegistryStore.endOfTime
    let rows = try await pool.query(
      """
      SELECT version, event, effective_date::text, recorded_at, recorded_by, body FROM institution_version
      WHERE credit_code = \(request.creditCode) AND effective_date <= \(asOf)::date ORDER BY version
      """)
    if rows.isEmpty {
      throw Refusal(
        .notFound, rule: "institution.exists", field: "credit_code",
        "no institution with credit code \(request.creditCode)")
    }
    let formatter = ISO8601DateFormatter()
    var response = Tuoyu_Registry_V1_ListInstitutionHistoryResponse()
    for row in rows {
      let (version, event, date, at, by, body) = try row.decode(
        (Int32, String, String, Date, String, PostgresBytes).self)
      response.versions.append(
        .with {
          $0.version = version
          $0.event = event
          $0.effectiveDate = LocalDate(date)?.proto ?? .init()
          $0.recordedAt = formatter.string(from: at)
          $0.recordedBy = by
          $0.institution = (try? Institution(serializedBytes: body.bytes)) ?? .init()
        })
    }
    return response
  }

  public func listPublicInstitutions(
    request: Tuoyu_Registry_V1_ListPublicInstitutionsRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ListPublicInstitutionsResponse {
    let size = try PageToken.size(request.pageSize)
    let filters = "public|\(request.regionCode)"
    let after = try PageToken.read(request.pageToken, filters: filters)
    try await knownRegion(request.regionCode)
    let found = try await institutions(
      regionCode: request.regionCode, mode: 0, status: "filed", inclusiveOnly: false, day: nil, after: after,
      limit: size + 1)
    var response = Tuoyu_Registry_V1_ListPublicInstitutionsResponse()
    for inst in found.prefix(size) {
      response.institutions.append(
        .with {
          $0.displayName = inst.displayName
          $0.filingNumber = inst.filingNumber
          $0.address = Self.publicAddress(inst.facts)
          $0.countyCode = inst.countyCode
          $0.townshipCode = inst.facts.townshipCode
          $0.mode = inst.facts.mode
          $0.inclusive = inst.facts.inclusive
          $0.seats = inst.facts.seats.total
          $0.feeBand = Self.feeBand(inst.facts.monthlyFee.fen)
        })
    }
    if found.count > size, let last = found.prefix(size).last {
      response.nextPageToken = PageToken.make(after: last.creditCode, filters: filters)
    }
    return response
  }

  /// Fees are disclosed as 500-yuan bands. Any stored value is shown without trapping: a fee
  /// above the contract's bound (from before it was declared) is "above 100,000 yuan".
  static func feeBand(_ fen: Int64) -> String {
    if fen <= 0 { return "not stated" }
    if fen > FilingRules.maxMonthlyFee { return "above \(FilingRules.maxMonthlyFee / 100) yuan" }
    let band: Int64 = 50_000
    let low = (fen - 1) / band * band
    return "\(low / 100)–\((low + band) / 100) yuan"
  }

  /// What the public sees of an institution's address: a family care point is somebody's home,
  /// so only its community (or, when none is given, nothing beyond the township) is shown.
  static func publicAddress(_ facts: FilingFacts) -> String {
    facts.mode == .familyCarePoint ? facts.community : facts.address
  }

  // MARK: Regions

  func region(_ db: PostgresSession, _ code: String) async throws -> Tuoyu_Registry_V1_Region {
    guard let r = try await regions(db, [code]).first else {
      throw Refusal(.notFound, rule: "region.known", field: "code", "unknown region \(quoted(code))")
    }
    return r
  }

  /// The regions named, in code order, with their years: two queries however many there are.
  func regions(_ db: PostgresSession, _ codes: [String]) async throws -> [Tuoyu_Registry_V1_Region] {
    let rows = try await db.query(
      """
      SELECT code, name, level, parent_code FROM region WHERE code = ANY(\(codes)) ORDER BY code
      """)
    var years: [String: [Tuoyu_Registry_V1_RegionYear]] = [:]
    for row in try await db.query(
      """
      SELECT code, year, population, seat_target, average_monthly_fee_fen FROM region_year
      WHERE code = ANY(\(codes)) ORDER BY code, year
      """)
    {
      let (code, y, p, t, f) = try row.decode((String, Int32, Int64, Int64, Int64).self)
      years[code, default: []].append(
        .with {
          $0.year = y
          $0.population = p
          $0.seatTarget = t
          $0.averageMonthlyFee.fen = f
        })
    }
    return try rows.map { row in
      let (code, name, level, parent) = try row.decode((String, String, String, String?).self)
      return .with {
        $0.name = "regions/\(code)"
        $0.code = code
        $0.displayName = name
        $0.level = Self.level(level)
        $0.parentCode = parent ?? ""
        $0.years = years[code] ?? []
      }
    }
  }

  static func level(_ s: String) -> Tuoyu_Registry_V1_RegionLevel {
    switch s {
    case "city": .city
    case "county": .county
    case "township": .township
    default: .unspecified
    }
  }

  public func getRegion(
    request: Tuoyu_Registry_V1_GetRegionRequest, context: ServerContext
  ) async throws
    -> Tuoyu_Registry_V1_Region
  {
    try await pool.withConnection { try await region($0, request.code) }
  }

  public func listRegions(
    request: Tuoyu_Registry_V1_ListRegionsRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ListRegionsResponse {
    let size = try PageToken.size(request.pageSize, default: 200, max: 500)
    let filters = "regions|\(request.rootCode)"
    let after = try PageToken.read(request.pageToken, filters: filters)
    try await knownRegion(request.rootCode, field: "root_code")
    return try await pool.withConnection { db in
      let codes = try await db.query(
        """
        WITH RECURSIVE t AS (
          SELECT code FROM region WHERE (\(request.rootCode) = '' AND parent_code IS NULL) OR code = \(request.rootCode)
          UNION ALL SELECT r.code FROM region r JOIN t ON r.parent_code = t.code)
        SELECT code FROM t WHERE code > \(after) ORDER BY code LIMIT \(size + 1)
        """
      ).map { try $0.decode(String.self, at: 0) }
      var response = Tuoyu_Registry_V1_ListRegionsResponse()
      response.regions = try await regions(db, Array(codes.prefix(size)))
      if codes.count > size, let last = response.regions.last {
        response.nextPageToken = PageToken.make(after: last.code, filters: filters)
      }
      return response
    }
  }

  public func putRegion(
    request: Tuoyu_Registry_V1_PutRegionRequest, context: ServerContext
  ) async throws
    -> Tuoyu_Registry_V1_Region
  {
    var problems: [Refusal] = []
    let level: String
    switch request.level {
    case .city: level = "city"
    case .county: level = "county"
    case .township: level = "township"
    default:
      level = ""
      problems.append(.invalid("level", rule: "region.level", "city, county or township"))
    }
    let digits = level == "township" ? 9 : 6
    if !FilingRules.isDigits(request.code, count: digits) {
      problems.append(
        .invalid("code", rule: "region.code", "a \(level.isEmpty ? "region" : level) code has \(digits) digits"))
    }
    if request.displayName.trimmingCharacters(in: .whitespaces).isEmpty {
      problems.append(.invalid("display_name", rule: "region.name", "a name is required"))
    }
    if (level == "city") != request.parentCode.isEmpty {
      problems.append(
        .invalid(
          "parent_code", rule: "region.parent", level == "city" ? "a city has no parent" : "a parent region is required"
        ))
    }
    if level == "township", !request.code.hasPrefix(request.parentCode) {
      problems.append(
        .invalid("code", rule: "region.township-prefix", "a township's code starts with its county's code"))
    }
    var seen = Set<Int32>()
    for (i, y) in request.years.enumerated() {
      if !(1949...2200).contains(y.year) || !seen.insert(y.year).inserted {
        problems.append(.invalid("years[\(i)].year", rule: "region.year", "a year 1949–2200, once"))
      }
      if y.population < 0 || y.seatTarget < 0 || y.averageMonthlyFee.fen < 0 {
        problems.append(.invalid("years[\(i)]", rule: "region.figures-non-negative", "figures cannot be negative"))
      }
    }
    try Refusals.check(problems)
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "regions/\(request.code)"
    ) { tx in
      if !request.parentCode.isEmpty {
        let parent = try await RegistryStore.region(tx, request.parentCode)
        let expected = level == "county" ? "city" : "county"
        guard parent?.level == expected else {
          throw Refusal.invalid(
            "parent_code", rule: "region.parent", "the parent of a \(level) must be a known \(expected)")
        }
      }
      if let existing = try await RegistryStore.region(tx, request.code),
        existing.level != level || existing.parent != (request.parentCode.isEmpty ? nil : request.parentCode)
      {
        throw Refusal.precondition(
          "region.fixed-place", "a region's level and parent do not change", field: "parent_code")
      }
      let parent: String? = request.parentCode.isEmpty ? nil : request.parentCode
      try await tx.query(
        """
        INSERT INTO region (code, name, level, parent_code) VALUES (\(request.code), \(request.displayName), \(level), \(parent))
        ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name
        """)
      for y in request.years {
        try await tx.query(
          """
          INSERT INTO region_year (code, year, population, seat_target, average_monthly_fee_fen)
          VALUES (\(request.code), \(y.year), \(y.population), \(y.seatTarget), \(y.averageMonthlyFee.fen))
          ON CONFLICT (code, year) DO UPDATE SET population = EXCLUDED.population,
            seat_target = EXCLUDED.seat_target, average_monthly_fee_fen = EXCLUDED.average_monthly_fee_fen
          """)
      }
      try await Outbox.append(tx, eventType: "region.put", subject: "regions/\(request.code)")
      return try await region(tx, request.code)
    }
  }

  // MARK: Rule pack

  public func listRuleValues(
    request: Tuoyu_Registry_V1_ListRuleValuesRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ListRuleValuesResponse {
    let rows = try await pool.query(
      """
      SELECT key, region_code, effective_from::text, value, source FROM rule_value ORDER BY key, region_code, effective_from
      """)
    return try .with { out in
      out.values = try rows.map { row in
        let (key, region, from, value, source) = try row.decode((String, String, String, Int32, String).self)
        return .with {
          $0.key = key
          $0.regionCode = region
          $0.effectiveFrom = LocalDate(from)?.proto ?? .init()
          $0.value = value
          $0.source = source
        }
      }
    }
  }

  public func putRuleValue(
    request: Tuoyu_Registry_V1_PutRuleValueRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_RuleValue {
    let v = request.value
    var problems: [Refusal] = []
    if RulePack.Key(rawValue: v.key) == nil {
      let keys = RulePack.Key.allCases.map(\.rawValue).joined(separator: ", ")
      problems.append(.invalid("value.key", rule: "rules.known-key", "unknown rule \(quoted(v.key)); one of \(keys)"))
    }
    if LocalDate(v.effectiveFrom) == nil {
      problems.append(.invalid("value.effective_from", rule: "rules.effective-from", "a valid date is required"))
    }
    // A class size or carer ratio of 0 would divide by zero and a tenure of 0 means nothing:
    // every rule value is positive.
    if v.value < 1 { problems.append(.invalid("value.value", rule: "rules.positive", "a rule value is at least 1")) }
    try Refusals.check(problems)
    if !v.regionCode.isEmpty { try await knownRegion(v.regionCode, field: "value.region_code") }
    let from = LocalDate(v.effectiveFrom)!.description
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "rules/\(v.key)"
    ) { tx in
      try await tx.query(
        """
        INSERT INTO rule_value (key, region_code, effective_from, value, source)
        VALUES (\(v.key), \(v.regionCode), \(from)::date, \(v.value), \(v.source))
        ON CONFLICT (key, region_code, effective_from) DO UPDATE SET value = EXCLUDED.value, source = EXCLUDED.source
        """)
      try await Outbox.append(tx, eventType: "rules.put", subject: "rules/\(v.key)")
      return v
    }
  }
}
