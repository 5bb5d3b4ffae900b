/// The unified social credit code (统一社会信用代码), GB 32100-2015: 18 characters from a
/// 31-character alphabet (digits and capital letters without I, O, Z, S, V); the 18th is a check
/// character over the first 17 with weights 3^i mod 31.
public enum CreditCode {
  static let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
  static let weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

  /// Why `code` is not a valid credit code, or nil when it is.
  public static func problem(_ code: String) -> String? {
    let chars = Array(code)
    guard chars.count == 18 else { return "must be 18 characters, got \(chars.count)" }
    var values: [Int] = []
    for (i, c) in chars.enumerated() {
      guard let v = alphabet.firstIndex(of: c) else {
        return "character \(i + 1) '\(c)' is not allowed (digits and A–Y without I, O, S, V, Z; capitals only)"
      }
      values.append(v)
    }
    guard let expected = checkCharacter(values[0..<17]) else { return "unreachable" }
    if chars[17] != expected { return "check character is '\(chars[17])', expected '\(expected)'" }
    return nil
  }

  /// The check character for 17 leading values.
  static func checkCharacter(_ values: ArraySlice<Int>) -> Character? {
    guard values.count == 17 else { return nil }
    let sum = zip(values, weights).reduce(0) { $0 + $1.0 * $1.1 }
    let c = (31 - sum % 31) % 31
    return alphabet[c]
  }

  /// Completes 17 characters with their check character (for demo data and tests).
  public static func complete(_ prefix: String) -> String? {
    let chars = Array(prefix)
    guard chars.count == 17 else { return nil }
    let values = chars.compactMap { alphabet.firstIndex(of: $0) }
    guard values.count == 17, let check = checkCharacter(values[...]) else { return nil }
    return prefix + String(check)
  }
}
