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

  public static func creditCodeRefusal(_ code: String) -> Refusal? {
    CreditCode.problem(code).map {
      Refusal.invalid("credit_code", rule: "credit-code.gb32100", "\(quoted(code, max: 24)): \($0)")
    }
  }
}
