import API
import RegistryAPI
import Foundation
import ServiceKit

public typealias FilingFacts = Tuoyu_Registry_V1_FilingFacts
public typealias FilingMaterials = Tuoyu_Registry_V1_FilingMaterials
public typealias InstitutionStatus = Tuoyu_Registry_V1_InstitutionStatus
public typealias ServiceMode = Tuoyu_Registry_V1_ServiceMode

/// What a filing is checked in: the day it takes effect, the rule pack, and the facts of its
/// region the registry keeps.
public struct FilingContext: Sendable {
  public var date: LocalDate
  public var pack: RulePack
  /// The township's county and city, nil when the township is unknown.
  public var county: String?
  public var city: String
  /// The county's average monthly fee in fen for `date`'s year (or the latest year before it).
  public var countyAverageFee: Int64?
  /// The county's name, and the other counties of its city (for the registration's warnings).
  public var countyName: String
  public var otherCounties: [(code: String, name: String)]
  /// The region a credit code was issued in (its characters 3–8), when the registry knows it.
  public var division: (code: String, name: String)?

  public init(
    date: LocalDate, pack: RulePack, county: String?, city: String, countyAverageFee: Int64?, countyName: String = "",
    otherCounties: [(code: String, name: String)] = [], division: (code: String, name: String)? = nil
  ) {
    self.date = date
    self.pack = pack
    self.county = county
    self.city = city
    self.countyAverageFee = countyAverageFee
    self.countyName = countyName
    self.otherCounties = otherCounties
    self.division = division
  }
}

/// The checks of a filing (and of a filing change). Each refusal names its rule; field
/// problems are INVALID_ARGUMENT, rules that do not hold are FAILED_PRECONDITION.
public enum FilingRules {
  /// Fields every institution needs from registration on.
  public static func location(_ f: FilingFacts, _ ctx: FilingContext, field: String = "facts") -> [Refusal] {
    var out: [Refusal] = []
    if !isDigits(f.townshipCode, count: 9) {
      out.append(.invalid("\(field).township_code", rule: "region.township-code", "must be a 9-digit township code"))
    } else if ctx.county == nil {
      out.append(
        .invalid(
          "\(field).township_code", rule: "region.known-township",
          "township \(f.townshipCode) is not in the registry's region tree"))
    }
    if f.latitude != 0 || f.longitude != 0 {
      if !(-90...90).contains(f.latitude) || !(-180...180).contains(f.longitude) {
        out.append(.invalid("\(field).latitude", rule: "address.coordinates", "coordinates out of range"))
      }
    }
    if !f.contactPhone.isEmpty
      && (f.contactPhone.utf8.count > 20
        || !f.contactPhone.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2B }))
    {
      out.append(.invalid("\(field).contact_phone", rule: "contact.phone", "digits, '-' and '+' only, at most 20"))
    }
    return out
  }

  /// A monthly fee above 100,000 yuan is not a fee (the contract's bound of `monthly_fee`).
  public static let maxMonthlyFee: Int64 = 10_000_000

  /// The full check of what a filing declares.
  public static func facts(_ f: FilingFacts, _ ctx: FilingContext, field: String = "facts") -> [Refusal] {
    var out = location(f, ctx, field: field)
    if !(1...6).contains(f.mode.rawValue) {
      out.append(.invalid("\(field).mode", rule: "filing.mode", "a service mode is required"))
    }
    if f.careTypes.isEmpty || f.careTypes.contains(where: { $0 == .unspecified }) {
      out.append(.invalid("\(field).care_types", rule: "filing.care-types", "at least one care type, none unspecified"))
    }
    if f.address.trimmingCharacters(in: .whitespaces).isEmpty {
      out.append(.invalid("\(field).address", rule: "filing.address", "an address is required"))
    }
    if f.monthlyFee.fen < 0 || f.monthlyFee.fen > maxMonthlyFee {
      out.append(
        .invalid("\(field).monthly_fee", rule: "filing.fee", "a monthly fee is 0–\(Yuan.withUnit(maxMonthlyFee))"))
    }
    out += seats(f, ctx, field: field)
    if f.inclusive {
      if f.monthlyFee.fen <= 0 {
        out.append(
          .invalid("\(field).monthly_fee", rule: "inclusive.fee-required", "a 普惠 institution states its monthly fee"))
      } else if let average = ctx.countyAverageFee, average > 0 {
        if f.monthlyFee.fen >= average {
          out.append(
            .precondition(
              "inclusive.fee-below-county-average",
              "a 普惠 fee must be below the county's average monthly fee \(Yuan.withUnit(average)); got \(Yuan.withUnit(f.monthlyFee.fen))",
              field: "\(field).monthly_fee"))
        }
      } else if ctx.county != nil {
        out.append(
          .precondition(
            "inclusive.county-average-fee-known",
            "the county \(ctx.county!) has no average monthly fee for \(ctx.date.year); set it before filing 普惠",
            field: "\(field).monthly_fee"))
      }
    }
    return out
  }

  static func seats(_ f: FilingFacts, _ ctx: FilingContext, field: String) -> [Refusal] {
    var out: [Refusal] = []
    let s = f.seats
    let classes: [(String, Tuoyu_Registry_V1_ClassSeats, RulePack.Key, String)] = [
      ("infant", s.infant, .infantClassMax, "乳儿班"), ("toddler", s.toddler, .toddlerClassMax, "托小班"),
      ("older_toddler", s.olderToddler, .olderToddlerClassMax, "托大班"), ("mixed", s.mixed, .mixedClassMax, "混合班"),
    ]
    for (name, c, _, _) in classes where c.classes < 0 || c.seats < 0 {
      out.append(.invalid("\(field).seats.\(name)", rule: "seats.non-negative", "classes and seats cannot be negative"))
    }
    if s.family < 0 {
      out.append(.invalid("\(field).seats.family", rule: "seats.non-negative", "seats cannot be negative"))
    }
    if !out.isEmpty { return out }
    let county = ctx.county ?? ""
    if f.mode == .familyCarePoint {
      for (name, c, _, _) in classes where c.classes != 0 || c.seats != 0 {
        out.append(
          .invalid(
            "\(field).seats.\(name)", rule: "family.no-classes",
            "a family care point declares family seats only"))
      }
      if s.family == 0 {
        out.append(
          .precondition("filing.seats-required", "a filing declares at least one seat", field: "\(field).seats"))
      }
      // A rule value that is not positive cannot be applied (refused when written; handled here
      // for rows from before that check).
      func limit(_ key: RulePack.Key) -> Int? {
        ctx.pack.value(key, on: ctx.date, county: county, city: ctx.city).flatMap { $0 > 0 ? $0 : nil }
      }
      guard let maxChildren = limit(.familyMaxChildren), let perCarer = limit(.familyChildrenPerCarer),
        let tenure = limit(.familyMinTenureYears)
      else {
        out.append(.precondition("family.rules-in-force", "no family care point rules are in force on \(ctx.date)"))
        return out
      }
      if Int(s.family) > maxChildren {
        out.append(
          .precondition(
            RulePack.Key.familyMaxChildren.rawValue,
            "a family care point takes at most \(maxChildren) children; declared \(s.family)",
            field: "\(field).seats.family"))
      }
      if f.carers < 0 {
        out.append(.invalid("\(field).carers", rule: "seats.non-negative", "carers cannot be negative"))
      } else if case let (capacity, overflow) = Int(f.carers).multipliedReportingOverflow(by: perCarer),
        !overflow && Int(s.family) > capacity
      {
        let needed = Checked.divideRoundingUp(Int(s.family), perCarer) ?? 0
        out.append(
          .precondition(
            RulePack.Key.familyChildrenPerCarer.rawValue,
            "one carer for at most \(perCarer) children: \(s.family) children need \(needed) carers, declared \(f.carers)",
            field: "\(field).carers"))
      }
      if Int(f.premisesTenureYears) < tenure {
        out.append(
          .precondition(
            RulePack.Key.familyMinTenureYears.rawValue,
            "the home must be owned or leased for at least \(tenure) years; declared \(f.premisesTenureYears)",
            field: "\(field).premises_tenure_years"))
      }
      return out
    }
    if s.family != 0 {
      out.append(
        .invalid(
          "\(field).seats.family", rule: "seats.family-only-for-family-points",
          "only a family care point declares family seats"))
    }
    // Int32 seats summed in Int (64 bits): no sum of four Int32s can leave it.
    var total = 0
    for (name, c, key, label) in classes {
      total += Int(c.seats)
      guard c.seats > 0 || c.classes > 0 else { continue }
      guard let max = ctx.pack.value(key, on: ctx.date, county: county, city: ctx.city), max > 0 else {
        out.append(.precondition(key.rawValue, "no class size for \(label) is in force on \(ctx.date)"))
        continue
      }
      // Rule values are data: a product past Int's range is a capacity no seat count reaches.
      let (capacity, overflow) = Int(c.classes).multipliedReportingOverflow(by: max)
      if !overflow && Int(c.seats) > capacity {
        out.append(
          .precondition(
            key.rawValue,
            "\(label) holds at most \(max) children per class: \(c.seats) seats need \(Checked.divideRoundingUp(Int(c.seats), max) ?? 0) classes, declared \(c.classes)",
            field: "\(field).seats.\(name)"))
      }
    }
    if total == 0 {
      out.append(.precondition("filing.seats-required", "a filing declares at least one seat", field: "\(field).seats"))
    } else if total > maxTotalSeats {
      out.append(
        .invalid("\(field).seats", rule: "seats.total-max", "at most \(maxTotalSeats) seats in all; declared \(total)"))
    }
    return out
  }

  /// The materials a filing is submitted with, on the day the filing takes effect: each required
  /// document has its number, issuer and issue date, was issued by `day` and has not expired on
  /// it (an expiry before the issue date is a mistake in the document's dates).
  public static func materials(_ m: FilingMaterials, servesMeals: Bool, day: LocalDate) -> [Refusal] {
    var out: [Refusal] = []
    func check(_ d: Tuoyu_Common_V1_Document?, _ required: Bool, _ rule: String, _ field: String, _ what: String) {
      let path = "materials.\(field)"
      let name = "filing.materials.\(rule)"
      guard let d, d != .init() else {
        if required { out.append(.precondition(name, "\(what) is required", field: path)) }
        return
      }
      var missing: [String] = []
      if d.number.trimmingCharacters(in: .whitespaces).isEmpty { missing.append("number") }
      if d.issuer.trimmingCharacters(in: .whitespaces).isEmpty { missing.append("issuer") }
      if d.issued == .init() { missing.append("issue date") }
      if !missing.isEmpty {
        out.append(
          .invalid(path, rule: "document.complete", "\(what): its \(missing.joined(separator: ", ")) is required"))
      }
      let issued = d.issued == .init() ? nil : LocalDate(d.issued)
      let expires = d.expires == .init() ? nil : LocalDate(d.expires)
      if d.issued != .init() && issued == nil {
        out.append(.invalid("\(path).issued", rule: "document.dates", "\(what): the issue date is not a date"))
      }
      if d.expires != .init() && expires == nil {
        out.append(.invalid("\(path).expires", rule: "document.dates", "\(what): the expiry date is not a date"))
      }
      if let issued, let expires, expires < issued {
        out.append(
          .invalid(
            "\(path).expires", rule: "document.dates", "\(what): expires \(expires) before it was issued (\(issued))"))
      }
      if let issued, issued > day {
        out.append(
          .precondition(
            "document.issued-by-filing", "\(what) is dated \(issued), after the filing's day \(day)",
            field: "\(path).issued"))
      }
      if let expires, expires < day {
        out.append(
          .precondition(
            "document.not-expired", "\(what) expired on \(expires), before the filing's day \(day)",
            field: "\(path).expires"))
      }
    }
    check(
      m.hasSiteProof ? m.siteProof : nil, true, "site-proof", "site_proof", "proof of the site (ownership or lease)")
    check(
      m.hasHygieneEvaluation ? m.hygieneEvaluation : nil, true, "hygiene-evaluation", "hygiene_evaluation",
      "the hygiene evaluation (卫生评价)")
    check(m.hasFireSafety ? m.fireSafety : nil, true, "fire-safety", "fire_safety", "the fire-safety certificate")
    check(
      m.hasFoodLicence ? m.foodLicence : nil, servesMeals, "food-licence", "food_licence",
      servesMeals ? "a food licence (meals are served)" : "the food licence")
    check(
      m.hasStaffQualifications ? m.staffQualifications : nil, true, "staff-qualifications", "staff_qualifications",
      "the staff's qualification certificates")
    check(
      m.hasStaffHealth ? m.staffHealth : nil, true, "staff-health", "staff_health", "the staff's health certificates")
    return out
  }

  /// The most seats one institution may declare (the contract's bound of `Seats.total`).
  public static let maxTotalSeats = 10_000

  /// Seats by class summed (family seats for a family care point), in Int: cannot overflow.
  public static func totalSeats(_ s: Tuoyu_Registry_V1_Seats) -> Int {
    Int(s.infant.seats) + Int(s.toddler.seats) + Int(s.olderToddler.seats) + Int(s.mixed.seats) + Int(s.family)
  }

  /// Seats summed for storing: refused (not trapped) when they do not fit the column.
  public static func storedTotal(_ s: Tuoyu_Registry_V1_Seats) throws(Refusal) -> Int32 {
    let total = totalSeats(s)
    guard (0...maxTotalSeats).contains(total) else {
      throw Refusal.invalid(
        "facts.seats", rule: "seats.total-max", "at most \(maxTotalSeats) seats in all; declared \(total)")
    }
    return Int32(total)
  }

  static func isDigits(_ s: String, count: Int) -> Bool {
    s.utf8.count == count && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
  }
}
