import ServiceKit

/// Acceptance of new 普惠 seats for a year's task (评估验收): the county accepts seats per
/// institution, the city confirms or adjusts them (with a reason), and only city-confirmed seats
/// are paid for. A seat is accepted at most once: an institution's confirmed seats over all years
/// never exceed its filed 普惠 seats.
public enum AcceptanceRules {
  /// Why the county cannot accept `seats` at an institution with `inclusiveSeats` filed 普惠 seats
  /// of which `alreadyAccepted` were accepted before (any year), or nil.
  public static func countyRefusal(seats: Int, inclusiveSeats: Int, alreadyAccepted: Int, filed: Bool) -> Refusal? {
    guard filed else {
      return .precondition("acceptance.filed", "only a filed 普惠 institution's seats are accepted")
    }
    guard seats >= 1 else { return .invalid("seats", rule: "acceptance.seats", "at least one seat is accepted") }
    let free = inclusiveSeats - alreadyAccepted
    guard seats <= free else {
      return .precondition(
        "acceptance.once",
        "\(seats) seats exceed the \(max(0, free)) 普惠 seats not yet accepted (\(inclusiveSeats) filed, \(alreadyAccepted) accepted before): a seat is accepted at most once",
        field: "seats")
    }
    return nil
  }

  /// Why the city cannot confirm `confirmed` of the county's `accepted` seats, or nil: never more
  /// than the county accepted, and an adjustment (fewer) names its reason.
  public static func cityRefusal(accepted: Int, confirmed: Int, reason: String) -> Refusal? {
    guard (0...accepted).contains(confirmed) else {
      return .invalid(
        "confirmed_seats", rule: "acceptance.confirm-range",
        "the city confirms 0 to the \(accepted) seats the county accepted, not \(confirmed)")
    }
    if confirmed < accepted && reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
      return .invalid(
        "reason", rule: "acceptance.adjust-reason", "an adjustment of the county's figure (复核调整) names its reason")
    }
    return nil
  }
}
