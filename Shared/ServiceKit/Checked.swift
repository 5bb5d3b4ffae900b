/// Arithmetic over stored or supplied numbers that cannot trap: an overflow is a refusal naming
/// what overflowed (FAILED_PRECONDITION, rule `arithmetic.in-range`), never a crash of the
/// process. Swift traps on overflow, and a trap is a denial of service.
public enum Checked {
  public static func add<T: FixedWidthInteger>(_ a: T, _ b: T, _ what: @autoclosure () -> String) throws(Refusal) -> T {
    let (r, overflow) = a.addingReportingOverflow(b)
    if overflow { throw outOfRange(what()) }
    return r
  }

  public static func multiply<T: FixedWidthInteger>(
    _ a: T, _ b: T, _ what: @autoclosure () -> String
  ) throws(Refusal) -> T {
    let (r, overflow) = a.multipliedReportingOverflow(by: b)
    if overflow { throw outOfRange(what()) }
    return r
  }

  /// The sum of `values`, refused when it leaves `T`.
  public static func sum<T: FixedWidthInteger>(
    _ values: some Sequence<T>, _ what: @autoclosure () -> String
  ) throws(Refusal) -> T {
    var total: T = 0
    for v in values {
      let (r, overflow) = total.addingReportingOverflow(v)
      if overflow { throw outOfRange(what()) }
      total = r
    }
    return total
  }

  /// `a / b` rounded up, for positive `b`; nil when `b` is not positive.
  public static func divideRoundingUp<T: FixedWidthInteger>(_ a: T, _ b: T) -> T? {
    guard b > 0, a >= 0 else { return nil }
    let (q, r) = a.quotientAndRemainder(dividingBy: b)
    return r == 0 ? q : q + 1
  }

  /// `value` converted to `T`, refused when it does not fit.
  public static func convert<T: FixedWidthInteger>(
    _ value: some BinaryInteger, _ what: @autoclosure () -> String
  ) throws(Refusal) -> T {
    guard let r = T(exactly: value) else { throw outOfRange(what()) }
    return r
  }

  static func outOfRange(_ what: String) -> Refusal {
    Refusal.precondition("arithmetic.in-range", "\(what) is out of range")
  }
}
