import ServiceKit

/// Rules on the resident ID number a person is registered with (GB 11643).
public enum Identity {
  /// Why `id` cannot be registered on `today`, or nil. Never quotes the number: an error message
  /// ends up in logs and on screens.
  public static func refusal(_ id: String, field: String = "id_number", today: LocalDate) -> Refusal? {
    if let problem = ResidentID.problem(id, today: (today.year, today.month, today.day)) {
      return .invalid(field, rule: "id-number.valid", "not a resident ID number: \(problem)")
    }
    return nil
  }

  /// The date of birth inside a valid number.
  public static func birthDate(_ id: String) -> LocalDate? {
    ResidentID.birthDate(id).flatMap { LocalDate(year: $0.year, month: $0.month, day: $0.day) }
  }

  /// Whole years of age on `day`.
  public static func age(born: LocalDate, on day: LocalDate) -> Int {
    var years = day.year - born.year
    if (day.month, day.day) < (born.month, born.day) { years -= 1 }
    return years
  }
}
