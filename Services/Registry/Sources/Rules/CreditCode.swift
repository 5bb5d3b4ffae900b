/// The unified social credit code (统一社会信用代码), GB 32100-2015: 18 characters from a
/// 31-character alphabet (digits and capital letters without I, O, Z, S, V); the 18th is a check
/// character over the first 17 with weights 3^i mod 31. Checked on its bytes: only those ASCII
/// bytes are characters of the code (a look-alike such as U+212A KELVIN SIGN is not a `K`).
public enum CreditCode {
  static let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY".utf8)
  static let weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
  /// The value of each byte in the alphabet, -1 for a byte outside it.
  static let values: [Int] = {
    var v = [Int](repeating: -1, count: 256)
    for (i, b) in alphabet.enumerated() { v[Int(b)] = i }
    return v
  }()

  /// Why `code` is not a valid credit code, or nil when it is.
  public static func problem(_ code: String) -> String? {
    let bytes = Array(code.utf8)
    guard bytes.count == 18 else { return "must be 18 characters (ASCII), got \(bytes.count) bytes" }
    var digits: [Int] = []
    digits.reserveCapacity(18)
    for (i, b) in bytes.enumerated() {
      let v = values[Int(b)]
      guard v >= 0 else {
        let shown = b >= 0x21 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x\(String(b, radix: 16))"
        return "character \(i + 1) \(shown) is not allowed (digits and A–Y without I, O, S, V, Z; capitals only)"
      }
      digits.append(v)
    }
    let expected = checkValue(digits[0..<17])
    if digits[17] != expected {
      return
        "check character is '\(Character(Unicode.Scalar(bytes[17])))', expected '\(Character(Unicode.Scalar(alphabet[expected])))'"
    }
    return nil
  }

  /// The value of the check character for 17 leading values.
  static func checkValue(_ values: ArraySlice<Int>) -> Int {
    let sum = zip(values, weights).reduce(0) { $0 + $1.0 * $1.1 }
    return (31 - sum % 31) % 31
  }

  /// Completes 17 characters with their check character (for demo data and tests).
  public static func complete(_ prefix: String) -> String? {
    let bytes = Array(prefix.utf8)
    guard bytes.count == 17 else { return nil }
    let v = bytes.map { values[Int($0)] }
    guard !v.contains(-1) else { return nil }
    return prefix + String(Character(Unicode.Scalar(alphabet[checkValue(v[...])])))
  }
}
