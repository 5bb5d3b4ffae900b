import API
import RegistryAPI
import Foundation
import Postgres
import RPC
import ServiceKit

extension RegistryService {
  // MARK: Indicators

  /// Year-end indicators of the city (or a county) and each county under it, from what was
  /// filed (status FILED; suspended, revoked and closed institutions do not count) on 31 December.
  public func getIndicators(
    request: Tuoyu_Registry_V1_GetIndicatorsRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_GetIndicatorsResponse {
    guard (1949...2200).contains(request.year) else {
      throw Refusal.invalid("year", rule: "indicators.year", "a year 1949–2200")
    }
    let day = LocalDate(year: Int(request.year), month: 12, day: 31)!
    return try await pool.withConnection { db in
      var rootCode = request.regionCode
      if rootCode.isEmpty {
        let cities = try await db.query("SELECT code FROM region WHERE level = 'city' ORDER BY code").map {
          try $0.decode(String.self, at: 0)
        }
        guard cities.count == 1 else {
          throw Refusal.invalid(
            "region_code", rule: "indicators.region", "name the city or county (\(cities.count) cities known)")
        }
        rootCode = cities[0]
      }
      guard let root = try await RegistryStore.region(db, rootCode) else {
        throw Refusal.invalid("region_code", rule: "region.known", "unknown region \(rootCode)")
      }
      guard root.level != "township" else {
        throw Refusal.invalid("region_code", rule: "indicators.region", "indicators are per city or county")
      }
      // Regions: the root, its counties, and every township under them.
      let tree = try await db.query(
        """
        WITH RECURSIVE t AS (
          SELECT code, name, level, parent_code FROM region WHERE code = \(root.code)
          UNION ALL SELECT r.code, r.name, r.level, r.parent_code FROM region r JOIN t ON r.parent_code = t.code)
        SELECT t.code, t.name, t.level, t.parent_code, coalesce(y.population, 0), coalesce(y.seat_target, 0)
        FROM t LEFT JOIN region_year y ON y.code = t.code AND y.year = \(request.year)
        ORDER BY t.code
        """)
      var names: [String: String] = [:]
      var population: [String: Int64] = [:]
      var target: [String: Int64] = [:]
      var townshipsOf: [String: Int] = [:]
      var counties: [String] = []
      for row in tree {
        let (code, name, level, parent, pop, tgt) = try row.decode((String, String, String, String?, Int64, Int64).self)
        names[code] = name
        population[code] = pop
        target[code] = tgt
        if level == "county" { counties.append(code) }
        if level == "township", let parent { townshipsOf[parent, default: 0] += 1 }
      }
      // What was filed at the year's end, per township.
      let filed = try await db.query(
        """
        WITH v AS (
          SELECT DISTINCT ON (credit_code) status, inclusive, township_code, county_code, total_seats
          FROM institution_version WHERE effective_date <= \(day.description)::date
          ORDER BY credit_code, version DESC)
        SELECT county_code, township_code, count(*), sum(total_seats), coalesce(sum(total_seats) FILTER (WHERE inclusive), 0),
          bool_or(inclusive)
        FROM v WHERE status = 'filed' GROUP BY county_code, township_code
        """)
      var perCounty: [String: Tuoyu_Registry_V1_RegionIndicators] = [:]
      for code in counties {
        perCounty[code] = .with {
          $0.regionCode = code
          $0.regionName = names[code] ?? ""
          $0.population = population[code] ?? 0
          $0.seatTarget = target[code] ?? 0
          $0.townships = Int32(clamping: townshipsOf[code] ?? 0)
        }
      }
      // Sums over stored figures are checked: out-of-range data is a refusal, not a crash.
      for row in filed {
        let (county, _, n, seats, inclusiveSeats, anyInclusive) =
          try row.decode((String, String, Int64, Int64, Int64, Bool).self)
        guard var c = perCounty[county] else { continue }
        c.institutions = try Checked.add(
          c.institutions, try Checked.convert(n, "institutions"), "institutions of \(county)")
        c.seats = try Checked.add(c.seats, seats, "seats of \(county)")
        c.inclusiveSeats = try Checked.add(c.inclusiveSeats, inclusiveSeats, "普惠 seats of \(county)")
        c.townshipsCovered = try Checked.add(c.townshipsCovered, 1, "townships of \(county)")
        if anyInclusive {
          c.townshipsInclusiveCovered = try Checked.add(c.townshipsInclusiveCovered, 1, "townships of \(county)")
        }
        perCounty[county] = c
      }
      var rows = counties.map { perCounty[$0]! }
      if root.level == "city" {
        var city = Tuoyu_Registry_V1_RegionIndicators()
        city.regionCode = root.code
        city.regionName = root.name
        city.seats = try Checked.sum(rows.map(\.seats), "the city's seats")
        city.inclusiveSeats = try Checked.sum(rows.map(\.inclusiveSeats), "the city's 普惠 seats")
        city.institutions = try Checked.sum(rows.map(\.institutions), "the city's institutions")
        city.townships = try Checked.sum(rows.map(\.townships), "the city's townships")
        city.townshipsCovered = try Checked.sum(rows.map(\.townshipsCovered), "the city's townships")
        city.townshipsInclusiveCovered = try Checked.sum(rows.map(\.townshipsInclusiveCovered), "the city's townships")
        // The city's own figures when recorded, else the sum of its counties'.
        city.population =
          (population[root.code] ?? 0) > 0
          ? population[root.code]! : try Checked.sum(rows.map(\.population), "the city's population")
        city.seatTarget =
          (target[root.code] ?? 0) > 0
          ? target[root.code]! : try Checked.sum(rows.map(\.seatTarget), "the city's seat target")
        rows.insert(city, at: 0)
      }
      for i in rows.indices { Self.derive(&rows[i]) }
      return .with {
        $0.year = request.year
        $0.asOf = day.proto
        $0.regions = rows
      }
    }
  }

  /// The ratios, from the counts.
  static func derive(_ r: inout Tuoyu_Registry_V1_RegionIndicators) {
    r.seatsPerThousand = r.population > 0 ? Double(r.seats) * 1000 / Double(r.population) : 0
    r.inclusiveShare = r.seats > 0 ? Double(r.inclusiveSeats) / Double(r.seats) : 0
    r.targetProgress = r.seatTarget > 0 ? Double(r.seats) / Double(r.seatTarget) : 0
  }

  // MARK: Bulk import

  /// The most rows one import call takes.
  public static let maxImportRows: Int32 = 20_000

  /// Per row, not all-or-nothing: each row is registered (and, with a filing number, filed as a
  /// backfill checked like any filing) in its own transaction with its audit row, or reported
  /// (and its refusal audited).
  public func importInstitutions(
    requests: RequestStream<Tuoyu_Registry_V1_ImportRow>, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ImportInstitutionsResponse {
    var response = Tuoyu_Registry_V1_ImportInstitutionsResponse()
    let caller = Caller.of(context)
    let method = context.descriptor.path
    for try await received in requests {
      var row = received
      // One call's response stays small: past the limit the import stops and says from where
      // to go on.
      if response.received >= Self.maxImportRows {
        response.failures.append(
          .with {
            $0.row = row.row
            $0.code = Status.Code.resourceExhausted.description
            $0.message =
              "an import takes at most \(Self.maxImportRows) rows; send the rest, from this row on, in another call"
            $0.rule = "import.max-rows"
          })
        break
      }
      response.received += 1
      let target = "institutions/\(row.creditCode)"
      let requestID = "import:row:\(row.row)"
      let bytes = PostgresBytes(try row.serializedBytes())
      do {
        // The row's declared limits (checked here: a stream's rows are checked one by one, and
        // a row that breaks them is reported like any other refused row).
        let violations = row.limitViolations()
        if !violations.isEmpty { throw LimitViolations(violations) }
        try await importRow(row, caller: caller) { tx in
          try await Mutation.audit(tx, caller, method, target, requestID, request: bytes, outcome: "OK")
        }
        response.imported += 1
      } catch {
        _ = try? await pool.withTransaction { tx in
          try await Mutation.audit(
            tx, caller, method, target, requestID, request: bytes, outcome: Mutation.outcome(of: error))
        }
        let rpc = RPCError.status(of: error) ?? RPCError(code: .internal, message: "\(type(of: error))")
        response.failures.append(
          .with {
            $0.row = row.row
            $0.creditCode = row.creditCode
            $0.code = rpc.code.description
            $0.message = rpc.message
            $0.rule =
              (error as? Refusals)?.rule ?? (error as? Refusal)?.rule
              ?? (error as? LimitViolations)?.violations.first?.rule ?? ""
          })
      }
    }
    return response
  }

  /// Registers (and files) one row in one transaction; `audit` writes the row's audit record
  /// in that transaction.
  func importRow(
    _ row: Tuoyu_Registry_V1_ImportRow, caller: Caller, audit: (PostgresSession) async throws -> Void
  ) async throws {
    let day = try effectiveDate(row.effectiveDate)
    let problems = Self.registration(
      creditCode: row.creditCode, name: row.displayName, nature: row.legalNature, authority: row.registrationAuthority)
    try await pool.withTransaction { tx in
      let ctx = try await RegistryStore.filingContext(tx, township: row.facts.townshipCode, date: day)
      let filed = !row.filingNumber.isEmpty
      try Refusals.check(problems + (filed ? FilingRules.facts(row.facts, ctx) : FilingRules.location(row.facts, ctx)))
      if filed {
        let taken = try await tx.query("SELECT 1 FROM institution WHERE filing_number = \(row.filingNumber)")
        if !taken.isEmpty {
          throw Refusal(
            .alreadyExists, rule: "filing.unique-number", field: "filing_number",
            "filing number \(quoted(row.filingNumber)) is already used")
        }
      }
      let registered = try await RegistryStore.append(
        tx,
        Self.registered(
          creditCode: row.creditCode, name: row.displayName, nature: row.legalNature,
          authority: row.registrationAuthority, facts: row.facts, county: ctx.county, day: day),
        event: .register, by: caller, after: nil)
      if filed {
        var inst = registered
        inst.status = .filed
        inst.filingNumber = row.filingNumber
        _ = try await RegistryStore.append(tx, inst, event: .file, by: caller, after: registered)
      }
      try await audit(tx)
    }
  }
}
