import RegistryAPI
import ServiceKit

/// An institution's lifecycle: registered → filing submitted → filed (or refused, and submitted
/// again) → suspended ⇄ filed → revoked or closed (terminal).
public enum Lifecycle {
  public enum Action: String, Sendable, CaseIterable {
    case register = "registered"
    case submitFiling = "filing-submitted"
    case file = "filed"
    case refuse = "filing-refused"
    case change = "changed"
    case suspend = "suspended"
    case reinstate = "reinstated"
    case revoke = "revoked"
    case close = "closed"
  }

  /// The status each action may start from, and where it leads.
  static let table: [Action: (from: Set<InstitutionStatus>, to: InstitutionStatus?)] = [
    .submitFiling: ([.registered, .filingRefused], .filingSubmitted),
    .file: ([.filingSubmitted], .filed),
    .refuse: ([.filingSubmitted], .filingRefused),
    .change: ([.filed], nil),
    .suspend: ([.filed], .suspended),
    .reinstate: ([.suspended], .filed),
    .revoke: ([.filed, .suspended], .revoked),
    .close: ([.registered, .filingSubmitted, .filingRefused, .filed, .suspended], .closed),
  ]

  /// The status after `action` from `status`, or the refusal naming the rule.
  public static func next(from status: InstitutionStatus, _ action: Action) throws(Refusal) -> InstitutionStatus {
    if action == .register {
      throw Refusal(.alreadyExists, rule: "lifecycle.register-once", "the institution is already registered")
    }
    guard let rule = table[action] else { throw Refusal.precondition("lifecycle", "unknown action") }
    guard rule.from.contains(status) else {
      let allowed = rule.from.map(name).sorted().joined(separator: " or ")
      throw Refusal.precondition(
        "lifecycle.\(action.rawValue)",
        "cannot be \(action.rawValue) while \(name(status)); only from \(allowed)")
    }
    return rule.to ?? status
  }

  public static func name(_ s: InstitutionStatus) -> String {
    switch s {
    case .registered: "registered"
    case .filingSubmitted: "filing-submitted"
    case .filed: "filed"
    case .filingRefused: "filing-refused"
    case .suspended: "suspended"
    case .revoked: "revoked"
    case .closed: "closed"
    default: "unspecified"
    }
  }

  public static func status(named n: String) -> InstitutionStatus? {
    InstitutionStatus.allCases.first { name($0) == n && $0 != .unspecified }
  }
}
