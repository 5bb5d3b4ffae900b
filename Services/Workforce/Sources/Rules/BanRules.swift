import ServiceKit

/// The rules of lifetime bans (终身禁入): a ban stands until an annulment, recorded by one officer,
/// is approved by another.
public enum BanRules {
  public enum Status: String, Sendable {
    case active, annulmentPending = "annulment-pending", annulled
  }

  /// Whether a ban in `status` still bars its person (a pending annulment does not lift it).
  public static func stands(_ status: Status) -> Bool { status != .annulled }

  /// Why `requester` may not record an annulment of a ban in `status`, or nil.
  public static func requestRefusal(status: Status) -> Refusal? {
    switch status {
    case .active: nil
    case .annulmentPending:
      .precondition("ban.annulment-once", "an annulment of this ban is already recorded and waits for approval")
    case .annulled: .precondition("ban.annulment-once", "this ban is already annulled")
    }
  }

  /// Why `approver` may not approve the annulment recorded by `recorder`, or nil (maker-checker:
  /// a second officer approves).
  public static func approvalRefusal(status: Status, recorder: String?, approver: String) -> Refusal? {
    guard status == .annulmentPending else {
      return .precondition(
        "ban.annulment-pending",
        status == .annulled ? "this ban is already annulled" : "no annulment of this ban is recorded")
    }
    if recorder == approver {
      return .precondition(
        "ban.maker-checker", "the officer who recorded the annulment cannot approve it; a second officer must")
    }
    return nil
  }

  /// Why a decision dated `decided` cannot be recorded on `today`, or nil.
  public static func decisionDateRefusal(_ decided: LocalDate?, field: String, today: LocalDate) -> Refusal? {
    guard let decided else { return .invalid(field, rule: "decision.date", "a valid decision date is required") }
    if decided > today { return .invalid(field, rule: "decision.date", "\(decided) is in the future") }
    return nil
  }
}
