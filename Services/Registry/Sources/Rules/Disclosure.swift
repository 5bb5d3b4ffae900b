import API
import RegistryAPI
import ServiceKit

/// What the public listing (信息公示) shows of an institution.
public enum Disclosure {
  /// Fees are disclosed as 500-yuan bands. Any stored value is shown without trapping: a fee
  /// above the contract's bound (from before it was declared) is "above 100,000 yuan".
  public static func feeBand(_ fen: Int64) -> String {
    if fen <= 0 { return "not stated" }
    if fen > FilingRules.maxMonthlyFee { return "above \(FilingRules.maxMonthlyFee / 100) yuan" }
    let band: Int64 = 50_000
    let low = (fen - 1) / band * band
    return "\(low / 100)–\((low + band) / 100) yuan"
  }

  /// What the public sees of an institution's address: a family care point is somebody's home,
  /// so only its community (or, when none is given, nothing beyond the township) is shown.
  public static func publicAddress(_ facts: FilingFacts) -> String {
    facts.mode == .familyCarePoint ? facts.community : facts.address
  }
}
