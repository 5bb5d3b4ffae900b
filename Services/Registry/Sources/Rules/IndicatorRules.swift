import API
import RegistryAPI
import ServiceKit

/// The year-end indicators, from the region tree's figures and what was filed per township:
/// each county's counts, the city's as the sum of its counties', and the ratios. Sums over stored
/// figures are checked — out-of-range data is a refusal (`arithmetic.in-range`), never a crash.
public enum IndicatorRules {
  /// One region of the tree with its figures for the year.
  public struct Region: Sendable, Hashable {
    public var code: String
    public var name: String
    /// "city", "county" or "township".
    public var level: String
    public var parent: String?
    public var population: Int64
    public var seatTarget: Int64

    public init(
      code: String, name: String, level: String, parent: String?, population: Int64 = 0, seatTarget: Int64 = 0
    ) {
      self.code = code
      self.name = name
      self.level = level
      self.parent = parent
      self.population = population
      self.seatTarget = seatTarget
    }
  }

  /// What was filed in one township at the year's end.
  public struct Filed: Sendable, Hashable {
    public var county: String
    public var township: String
    public var institutions: Int64
    public var seats: Int64
    public var inclusiveSeats: Int64
    public var anyInclusive: Bool

    public init(
      county: String, township: String, institutions: Int64, seats: Int64, inclusiveSeats: Int64, anyInclusive: Bool
    ) {
      self.county = county
      self.township = township
      self.institutions = institutions
      self.seats = seats
      self.inclusiveSeats = inclusiveSeats
      self.anyInclusive = anyInclusive
    }
  }

  /// The root (a city or a county) first when it is a city, then each county under it.
  public static func rollUp(
    root: Region, tree: [Region], filed: [Filed]
  ) throws(Refusal)
    -> [Tuoyu_Registry_V1_RegionIndicators]
  {
    var townshipsOf: [String: Int] = [:]
    var counties: [Region] = []
    for r in tree {
      if r.level == "county" { counties.append(r) }
      if r.level == "township", let parent = r.parent { townshipsOf[parent, default: 0] += 1 }
    }
    var perCounty: [String: Tuoyu_Registry_V1_RegionIndicators] = [:]
    for c in counties {
      perCounty[c.code] = .with {
        $0.regionCode = c.code
        $0.regionName = c.name
        $0.population = c.population
        $0.seatTarget = c.seatTarget
        $0.townships = Int32(clamping: townshipsOf[c.code] ?? 0)
      }
    }
    for f in filed {
      guard var c = perCounty[f.county] else { continue }
      c.institutions = try Checked.add(
        c.institutions, try Checked.convert(f.institutions, "institutions"), "institutions of \(f.county)")
      c.seats = try Checked.add(c.seats, f.seats, "seats of \(f.county)")
      c.inclusiveSeats = try Checked.add(c.inclusiveSeats, f.inclusiveSeats, "普惠 seats of \(f.county)")
      c.townshipsCovered = try Checked.add(c.townshipsCovered, 1, "townships of \(f.county)")
      if f.anyInclusive {
        c.townshipsInclusiveCovered = try Checked.add(c.townshipsInclusiveCovered, 1, "townships of \(f.county)")
      }
      perCounty[f.county] = c
    }
    // The townships no filed institution covers, per county, in code order.
    let covered = Set(filed.filter { $0.institutions > 0 }.map(\.township))
    for r in tree where r.level == "township" && !covered.contains(r.code) {
      guard let parent = r.parent, perCounty[parent] != nil else { continue }
      perCounty[parent]!.uncoveredTownships.append(
        .with {
          $0.code = r.code
          $0.name = r.name
        })
    }
    var rows = counties.compactMap { perCounty[$0.code] }
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
      city.uncoveredTownships = rows.flatMap(\.uncoveredTownships)
      // The city's own figures when recorded, else the sum of its counties'.
      city.population =
        root.population > 0 ? root.population : try Checked.sum(rows.map(\.population), "the city's population")
      city.seatTarget =
        root.seatTarget > 0 ? root.seatTarget : try Checked.sum(rows.map(\.seatTarget), "the city's seat target")
      rows.insert(city, at: 0)
    }
    for i in rows.indices { derive(&rows[i]) }
    return rows
  }

  /// The ratios, from the counts.
  public static func derive(_ r: inout Tuoyu_Registry_V1_RegionIndicators) {
    r.seatsPerThousand = r.population > 0 ? Double(r.seats) * 1000 / Double(r.population) : 0
    r.inclusiveShare = r.seats > 0 ? Double(r.inclusiveSeats) / Double(r.seats) : 0
    r.targetProgress = r.seatTarget > 0 ? Double(r.seats) / Double(r.seatTarget) : 0
  }
}
