import ServiceKit

/// Rectification orders (整改通知): one for each failed item, due by a deadline set by the
/// failure's severity; open → rectified (the institution reports it) → verified (an inspector
/// confirms it). Deadlines are data, versioned by the day they take effect.
public struct DeadlineRules: Sendable, Hashable {
  /// Days to rectify, per severity, from the day of the inspection.
  public var days: [Severity: Int]
  public var effectiveFrom: LocalDate

  public init(days: [Severity: Int], effectiveFrom: LocalDate) {
    self.days = days
    self.effectiveFrom = effectiveFrom
  }

  /// The city's default: critical within 3 days (the institution is suspended meanwhile), major
  /// within 15, minor within 30.
  public static let standard = DeadlineRules(
    days: [.critical: 3, .major: 15, .minor: 30], effectiveFrom: LocalDate(year: 2020, month: 1, day: 1)!)

  /// The deadline of an order for a `severity` failure found on `inspected`.
  public func deadline(_ severity: Severity, inspected: LocalDate) -> LocalDate {
    inspected.adding(days: days[severity] ?? 30)
  }

  /// The rules in force on `day` among `versions`: the latest that took effect by then.
  public static func inForce(_ versions: [DeadlineRules], on day: LocalDate) -> DeadlineRules? {
    versions.filter { $0.effectiveFrom <= day }.max { $0.effectiveFrom < $1.effectiveFrom }
  }
}

public enum OrderStatus: String, Sendable, Hashable {
  case open, rectified, verified
}

/// An order's lifecycle as data: which step moves it where.
public enum OrderLifecycle {
  public enum Step: String, Sendable {
    /// The institution reports it rectified.
    case report
    /// An inspector confirms the rectification.
    case verify
    /// An inspector finds the report untrue: back to open (the deadline stands).
    case reject

    /// "reported", "verified", "rejected": for messages.
    var past: String {
      switch self {
      case .report: "reported"
      case .verify: "verified"
      case .reject: "rejected"
      }
    }
  }

  static let moves: [OrderStatus: [Step: OrderStatus]] = [
    .open: [.report: .rectified],
    .rectified: [.verify: .verified, .reject: .open],
    .verified: [:],
  ]

  /// The status after `step`, or the refusal naming why it cannot be taken.
  public static func next(_ status: OrderStatus, _ step: Step) -> Result<OrderStatus, Refusal> {
    guard let to = moves[status]?[step] else {
      return .failure(
        .precondition("order.transition", "an order that is \(status.rawValue) cannot be \(step.past)"))
    }
    return .success(to)
  }

  /// Whether an order is overdue as of `day`: it was not reported rectified by its deadline and
  /// is still not, or it was reported only after the deadline and not yet verified. Reported on
  /// or before the deadline, it is not overdue while the inspector verifies it.
  public static func overdue(
    status: OrderStatus, deadline: LocalDate, reportedOn: LocalDate?, asOf day: LocalDate
  ) -> Bool {
    switch status {
    case .verified: return false
    case .open: return day > deadline
    case .rectified: return (reportedOn.map { $0 > deadline } ?? true) && day > deadline
    }
  }
}
