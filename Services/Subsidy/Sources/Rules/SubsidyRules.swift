import ServiceKit

// The subsidy's rules, pure and table-tested: money in integer fen, never floating point.

/// The programmes and payers as the database and the ledger name them.
public enum Programme: String, Sendable, CaseIterable {
  case seatAward = "seat-award"
  case enrolment
  case milk
}

public enum Payer: String, Sendable, CaseIterable {
  case city
  case county
}

/// The policy in force: what a seat earns and how the cost is shared (托位奖补: about 2,000 yuan a
/// seat; after upper-level funds, the rest shared city : county 4 : 6).
public struct PolicyTerms: Sendable, Hashable {
  public var version: Int32
  public var awardPerSeatFen: Int64
  public var cityShare: Int32
  public var countyShare: Int32
  public var enrolmentMonthlyFen: Int64
  public var milkMonthlyFen: Int64
  /// "county", "city", "all" (a rule for every region) or "default".
  public var source: String

  public init(
    version: Int32, awardPerSeatFen: Int64, cityShare: Int32, countyShare: Int32, enrolmentMonthlyFen: Int64,
    milkMonthlyFen: Int64, source: String
  ) {
    self.version = version
    self.awardPerSeatFen = awardPerSeatFen
    self.cityShare = cityShare
    self.countyShare = countyShare
    self.enrolmentMonthlyFen = enrolmentMonthlyFen
    self.milkMonthlyFen = milkMonthlyFen
    self.source = source
  }

  /// When no rule is put: 2,000 yuan a seat, 4 : 6, no monthly subsidies (the city sets those).
  public static let defaults = PolicyTerms(
    version: 0, awardPerSeatFen: 200_000, cityShare: 4, countyShare: 6, enrolmentMonthlyFen: 0, milkMonthlyFen: 0,
    source: "default")

  public func monthlyFen(_ p: Programme) -> Int64 {
    switch p {
    case .seatAward: 0
    case .enrolment: enrolmentMonthlyFen
    case .milk: milkMonthlyFen
    }
  }
}

/// What an application is worth and who pays what.
public struct Split: Sendable, Hashable {
  public var gross: Int64
  /// gross − upper funds, never negative.
  public var payable: Int64
  public var city: Int64
  public var county: Int64

  /// Seats × award per seat (the gross of a seat award), or nil when it cannot be represented.
  public static func gross(seats: Int32, perSeatFen: Int64) -> Int64? {
    guard seats >= 0, perSeatFen >= 0 else { return nil }
    let (v, o) = Int64(seats).multipliedReportingOverflow(by: perSeatFen)
    return o ? nil : v
  }

  /// Upper-level funds are deducted first (upper funds beyond the gross leave nothing to pay); the
  /// remainder is split city = floor(remainder × city / (city + county)), county = remainder − city,
  /// so the parts always add up. Nil for shares that cannot split (both 0, negative) or inputs out
  /// of range.
  public static func of(gross: Int64, upperFen: Int64, cityShare: Int32, countyShare: Int32) -> Split? {
    guard gross >= 0, upperFen >= 0, cityShare >= 0, countyShare >= 0, Int64(cityShare) + Int64(countyShare) > 0 else {
      return nil
    }
    let payable = upperFen >= gross ? 0 : gross - upperFen
    // payable × share in 128 bits: exact whatever the inputs.
    let product = Int64(cityShare).multipliedFullWidth(by: payable)
    let (q, _) = (Int64(cityShare) + Int64(countyShare)).dividingFullWidth(product)
    return Split(gross: gross, payable: payable, city: q, county: payable - q)
  }
}

/// Who may have a monthly subsidy for a month.
public enum Entitlement {
  /// Under 36 months on the first day of the month: the third birthday falls after it.
  public static func underThree(birth: LocalDate, monthStart: LocalDate) -> Bool {
    let third =
      LocalDate(year: birth.year + 3, month: birth.month, day: birth.day)
      // 29 February: the third birthday is 1 March.
      ?? LocalDate(year: birth.year + 3, month: 3, day: 1)!
    return monthStart < third && birth <= monthStart
  }

  /// Why a child has no monthly subsidy of `programme` for the month starting `monthStart`, or nil.
  /// `institution` is the registry's view of where the child is enrolled on that day (nil: not enrolled).
  public static func refusal(
    _ programme: Programme, birth: LocalDate, localHukou: Bool, hardship: Bool, monthStart: LocalDate,
    institution: (filed: Bool, inclusive: Bool)?, monthlyFen: Int64
  ) -> Refusal? {
    guard underThree(birth: birth, monthStart: monthStart) else {
      return .precondition("claim.under-three", "the child is not under 36 months on \(monthStart)", field: "child_id")
    }
    guard monthlyFen > 0 else {
      return .precondition(
        "policy.no-subsidy", "no \(programme.rawValue) subsidy is in force for \(monthStart.year)", field: "programme")
    }
    switch programme {
    case .enrolment:
      guard localHukou else {
        return .precondition(
          "claim.local-hukou", "the enrolment subsidy is for local-hukou children", field: "child_id")
      }
      guard let institution else {
        return .precondition("claim.enrolled", "the child is not enrolled on \(monthStart)", field: "child_id")
      }
      guard institution.filed, institution.inclusive else {
        return .precondition(
          "claim.inclusive-filed", "the child's institution is not a filed 普惠 institution on \(monthStart)",
          field: "child_id")
      }
    case .milk:
      guard hardship else {
        return .precondition(
          "claim.hardship", "the milk subsidy is for registered hardship children", field: "child_id")
      }
    case .seatAward:
      return .invalid("programme", rule: "claim.monthly", "seat awards come from acceptances, not claims")
    }
    return nil
  }
}

/// The workflow of an application.
public enum ApplicationStatus: String, Sendable, CaseIterable {
  case submitted, reviewed, approved, disbursed, rejected
}

public enum Workflow {
  public enum Step: Sendable { case review, approve, reject }

  /// The refusal of `step` by `actor` on an application, or nil: county review follows submission;
  /// finance approves a reviewed application, not by whoever created or reviewed it (maker-checker);
  /// a rejection ends a pending one — or, by finance, an approved one not yet paid (withdrawn).
  public static func refusal(
    _ step: Step, status: ApplicationStatus, actor: String, createdBy: String, reviewedBy: String,
    finance: Bool = false
  ) -> Refusal? {
    switch step {
    case .review:
      guard status == .submitted else {
        return .precondition("workflow.order", "only a submitted application is reviewed (it is \(status.rawValue))")
      }
    case .approve:
      guard status == .reviewed else {
        return .precondition(
          "workflow.order", "only a reviewed application is approved (it is \(status.rawValue))")
      }
      guard actor != createdBy, actor != reviewedBy else {
        return .precondition(
          "approval.maker-checker", "whoever created or reviewed an application cannot approve it")
      }
    case .reject:
      guard status == .submitted || status == .reviewed || (status == .approved && finance) else {
        return .precondition(
          "workflow.order",
          status == .approved
            ? "an approved application is withdrawn by finance"
            : "only a pending or approved, unpaid application is rejected (it is \(status.rawValue))")
      }
    }
    return nil
  }
}

/// Double-entry: what each money movement writes. Debit positive, credit negative; the entries of
/// one transaction always sum to zero.
public struct Entry: Sendable, Hashable {
  public var account: String
  public var payer: Payer
  public var region: String
  public var fen: Int64

  public init(account: String, payer: Payer, region: String, fen: Int64) {
    self.account = account
    self.payer = payer
    self.region = region
    self.fen = fen
  }

  /// An approval incurs each share as an obligation: expense up, payable up.
  public static func approval(_ payer: Payer, region: String, fen: Int64) -> [Entry] {
    [
      .init(account: "expense", payer: payer, region: region, fen: fen),
      .init(account: "payable", payer: payer, region: region, fen: -fen),
    ]
  }

  /// A disbursement settles obligations: payable down, bank down.
  public static func disbursement(_ payer: Payer, region: String, fen: Int64) -> [Entry] {
    [
      .init(account: "payable", payer: payer, region: region, fen: fen),
      .init(account: "bank", payer: payer, region: region, fen: -fen),
    ]
  }

  /// A reversal: every entry negated.
  public static func reversal(of entries: [Entry]) -> [Entry] {
    entries.map { .init(account: $0.account, payer: $0.payer, region: $0.region, fen: -$0.fen) }
  }
}

/// A payer's statement against the payments the ledger holds for it.
public enum Reconciliation {
  public struct Item: Sendable, Hashable {
    public var reference: String
    public var ledgerFen: Int64
    public var statementFen: Int64
    public var paymentID: Int64
  }

  public struct Result: Sendable, Hashable {
    public var matched: [Item] = []
    /// Paid by the ledger, not on the statement.
    public var missing: [Item] = []
    /// On the statement, not in the ledger, or for another amount (then with both amounts).
    public var unexpected: [Item] = []
  }

  /// Matches by reference; a reference twice on the statement is matched once, the second unexpected.
  public static func match(
    ledger: [(reference: String, fen: Int64, paymentID: Int64)], statement: [(reference: String, fen: Int64)]
  ) -> Result {
    var byRef: [String: (fen: Int64, id: Int64)] = [:]
    for p in ledger { byRef[p.reference] = (p.fen, p.paymentID) }
    var seen: Set<String> = []
    var r = Result()
    for line in statement {
      if let p = byRef[line.reference], !seen.contains(line.reference) {
        seen.insert(line.reference)
        let item = Item(reference: line.reference, ledgerFen: p.fen, statementFen: line.fen, paymentID: p.id)
        if p.fen == line.fen { r.matched.append(item) } else { r.unexpected.append(item) }
      } else {
        r.unexpected.append(Item(reference: line.reference, ledgerFen: 0, statementFen: line.fen, paymentID: 0))
      }
    }
    for p in ledger where !seen.contains(p.reference) {
      r.missing.append(Item(reference: p.reference, ledgerFen: p.fen, statementFen: 0, paymentID: p.paymentID))
    }
    return r
  }
}

/// The city a county belongs to: its first four digits and 00.
public func cityOf(_ county: String) -> String { String(county.prefix(4)) + "00" }
