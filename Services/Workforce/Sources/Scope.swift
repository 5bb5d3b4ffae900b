import RPC
import ServiceKit

/// What part of the workforce a caller reaches (row-level access): everything, one region (an
/// hrss officer's county or city), or one institution (an employer's token names it).
public enum Scope: Sendable, Hashable {
  case all
  /// A 6-digit county code, or a city code ending in 00 (its counties share its first four digits).
  case region(String)
  /// A credit code.
  case institution(String)

  /// The caller's scope: a token naming an institution is limited to it, one naming a region to
  /// that; an employer's token must name its institution.
  public static func of(_ principal: Principal) throws(Refusal) -> Scope {
    if let inst = principal.institution, !inst.isEmpty { return .institution(inst) }
    if principal.roles.contains("workforce.employer")
      && principal.roles.isDisjoint(with: ["workforce.officer", "workforce.admin"])
    {
      throw Refusal(
        .permissionDenied, rule: "access.employer-institution",
        "an employer's token must name its institution (claim inst)")
    }
    if let region = principal.region, !region.isEmpty { return .region(region) }
    return .all
  }

  static func of(_ context: ServerContext) throws(Refusal) -> Scope { try of(Principal.caller(context)) }

  /// Whether a region code (county or city) lies inside `region`.
  public static func contains(_ region: String, _ code: String) -> Bool {
    if region == code { return true }
    guard region.count == 6, region.hasSuffix("00"), code.count >= 6 else { return false }
    return code.hasPrefix(region.prefix(4))
  }

  /// Whether an institution (its credit code and county) is within reach.
  public func covers(creditCode: String, county: String) -> Bool {
    switch self {
    case .all: true
    case .region(let r): Self.contains(r, county)
    case .institution(let code): code == creditCode
    }
  }

  /// Whether a whole region (a county or the city) may be read.
  public func covers(region code: String) -> Bool {
    switch self {
    case .all: true
    case .region(let r): Self.contains(r, code)
    case .institution: false
    }
  }

  /// Refuses (NOT_FOUND, revealing nothing) an institution out of reach.
  func require(creditCode: String, county: String, field: String = "credit_code") throws(Refusal) {
    guard covers(creditCode: creditCode, county: county) else {
      throw Refusal(.notFound, rule: "access.scope", field: field, "no institution \(creditCode) within your reach")
    }
  }
}
