/// Money as people give and read it, in yuan; everywhere else it is int64 fen (分). One place for
/// the CLI and the services alike.
public enum Yuan {
  /// "1800", "1800.5", "1800.50", "-3" → fen; nil for anything else (or past Int64).
  public static func fen(_ text: String) -> Int64? {
    var bytes = Substring(text).utf8.drop { $0 == 0x20 }
    while bytes.last == 0x20 { bytes = bytes.dropLast() }
    let negative = bytes.first == UInt8(ascii: "-")
    if negative { bytes = bytes.dropFirst() }
    let parts = bytes.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
    func digits(_ p: Substring.UTF8View.SubSequence) -> Bool { !p.isEmpty && p.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
    guard let whole = parts.first, digits(whole), whole.count <= 17,
      let w = Int64(String(decoding: whole, as: UTF8.self))
    else { return nil }
    var cents: Int64 = 0
    if parts.count == 2 {
      let f = parts[1]
      guard digits(f), f.count <= 2, let c = Int64(String(decoding: f, as: UTF8.self)) else { return nil }
      cents = f.count == 1 ? c * 10 : c
    }
    let (scaled, o1) = w.multipliedReportingOverflow(by: 100)
    let (v, o2) = scaled.addingReportingOverflow(cents)
    guard !o1, !o2 else { return nil }
    return negative ? -v : v
  }

  /// "1800.50" (any Int64, never traps).
  public static func string(_ fen: Int64) -> String {
    let a = fen.magnitude
    let cents = a % 100
    return "\(fen < 0 ? "-" : "")\(a / 100).\(cents < 10 ? "0" : "")\(cents)"
  }

  /// "1800.50 yuan".
  public static func withUnit(_ fen: Int64) -> String { string(fen) + " yuan" }
}
