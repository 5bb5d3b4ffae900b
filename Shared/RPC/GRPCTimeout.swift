/// The `grpc-timeout` header: at most 8 digits and a unit (H, M, S, m, u, n).
public enum GRPCTimeout {
  /// Parses a header value into nanoseconds, or nil if malformed.
  public static func parse(_ value: String) -> Int64? {
    let utf8 = Array(value.utf8)
    guard utf8.count >= 2, utf8.count <= 9 else { return nil }
    var amount: Int64 = 0
    for c in utf8.dropLast() {
      guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
      amount = amount * 10 + Int64(c - UInt8(ascii: "0"))
    }
    let perUnit: Int64
    switch utf8.last! {
    case UInt8(ascii: "H"): perUnit = 3_600_000_000_000
    case UInt8(ascii: "M"): perUnit = 60_000_000_000
    case UInt8(ascii: "S"): perUnit = 1_000_000_000
    case UInt8(ascii: "m"): perUnit = 1_000_000
    case UInt8(ascii: "u"): perUnit = 1_000
    case UInt8(ascii: "n"): perUnit = 1
    default: return nil
    }
    let (product, overflow) = amount.multipliedReportingOverflow(by: perUnit)
    return overflow ? Int64.max : product
  }

  /// Encodes nanoseconds in the finest unit that fits in 8 digits.
  public static func encode(nanoseconds: Int64) -> String {
    let ns = max(nanoseconds, 0)
    let units: [(Int64, String)] = [
      (1, "n"), (1_000, "u"), (1_000_000, "m"), (1_000_000_000, "S"), (60_000_000_000, "M"),
      (3_600_000_000_000, "H"),
    ]
    for (per, unit) in units {
      let amount = ns / per + (ns % per == 0 ? 0 : 1)
      if amount < 100_000_000 { return "\(amount)\(unit)" }
    }
    return "99999999H"
  }
}
