import API
import RegistryAPI
import ServiceKit

/// What registering an institution needs, and the first version it makes.
public enum Registration {
  /// What registering an institution needs from the registration authority.
  public static func check(
    creditCode: String, name: String, nature: Tuoyu_Registry_V1_LegalNature, authority: String
  ) -> [Refusal] {
    var problems = creditCodeRefusal(creditCode).map { [$0] } ?? []
    if name.trimmingCharacters(in: .whitespaces).isEmpty {
      problems.append(.invalid("display_name", rule: "institution.name", "a name is required"))
    }
    if !(1...2).contains(nature.rawValue) {
      problems.append(.invalid("legal_nature", rule: "institution.legal-nature", "non-profit or for-profit"))
    }
    if authority.trimmingCharacters(in: .whitespaces).isEmpty {
      problems.append(
        .invalid(
          "registration_authority", rule: "institution.registration-authority",
          "the registration authority is required"))
    }
    return problems
  }

  /// A new institution as registered: status REGISTERED, the facts given so far.
  public static func firstVersion(
    creditCode: String, name: String, nature: Tuoyu_Registry_V1_LegalNature, authority: String,
    facts: FilingFacts, county: String?, day: LocalDate
  ) -> Tuoyu_Registry_V1_Institution {
    .with {
      $0.creditCode = creditCode
      $0.displayName = name
      $0.legalNature = nature
      $0.registrationAuthority = authority
      $0.status = .registered
      $0.facts = facts
      $0.countyCode = county ?? ""
      $0.effectiveDate = day.proto
    }
  }

  /// What registering in this township raises but does not refuse: a credit code issued in
  /// another county (or city) than the township's, or an authority that names another county of
  /// the city. A credit code stays with an institution for life, also when it moves to another
  /// county, so neither is refused; the approver should look.
  public static func regionWarnings(
    creditCode: String, authority: String, township: String, _ ctx: FilingContext
  )
    -> [Tuoyu_Common_V1_Warning]
  {
    guard let county = ctx.county else { return [] }
    var out: [Tuoyu_Common_V1_Warning] = []
    if let division = ctx.division, division.code != county, division.code != ctx.city {
      out.append(
        .with {
          $0.rule = "registration.credit-code-region"
          $0.field = "credit_code"
          $0.message =
            "the credit code was issued in \(division.code) \(division.name) (its characters 3–8), but township \(township) is in \(county) \(ctx.countyName); a code stays with an institution that moved — check that it is this institution's own code"
        })
    }
    let named = ctx.otherCounties.filter { $0.name.count >= 2 && authority.contains($0.name) }
    if let other = named.first, ctx.countyName.isEmpty || !authority.contains(ctx.countyName) {
      out.append(
        .with {
          $0.rule = "registration.authority-region"
          $0.field = "registration_authority"
          $0.message =
            "the registration authority names \(other.name) (\(other.code)), but township \(township) is in \(county) \(ctx.countyName) — check the township and the authority"
        })
    }
    return out
  }

  /// The region code in a credit code's characters 3–8 (GB 32100: 登记管理机关行政区划码), when
  /// they are digits.
  public static func division(_ creditCode: String) -> String? {
    let b = Array(creditCode.utf8)
    guard b.count == 18, b[2..<8].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
    return String(decoding: b[2..<8], as: UTF8.self)
  }

  public static func creditCodeRefusal(_ code: String) -> Refusal? {
    CreditCode.problem(code).map {
      Refusal.invalid("credit_code", rule: "credit-code.gb32100", "\(quoted(code, max: 24)): \($0)")
    }
  }
}
