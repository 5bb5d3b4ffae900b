import ServiceKit

/// Credit evaluation (诚信评价): a score out of 100 from the last 12 months of findings and overdue
/// rectification orders, and a grade A–D from the score. Weights and bands are data (a versioned
/// table); this is the arithmetic.
public struct CreditRules: Sendable {
  /// Points taken off per failure, by severity.
  public var perFailure: [Severity: Int]
  /// Points taken off per order overdue as of the day.
  public var perOverdueOrder: Int
  /// The least score of each grade, best first: A from 90, B from 75, C from 60, D below.
  public var bands: [(grade: String, atLeast: Int)]
  /// A critical failure in the window caps the grade (no A or B whatever the score).
  public var criticalCap: String
  public var version: Int

  public init(
    perFailure: [Severity: Int], perOverdueOrder: Int, bands: [(grade: String, atLeast: Int)], criticalCap: String,
    version: Int
  ) {
    self.perFailure = perFailure
    self.perOverdueOrder = perOverdueOrder
    self.bands = bands
    self.criticalCap = criticalCap
    self.version = version
  }

  public static let standard = CreditRules(
    perFailure: [.minor: 2, .major: 5, .critical: 20], perOverdueOrder: 10,
    bands: [("A", 90), ("B", 75), ("C", 60), ("D", 0)], criticalCap: "C", version: 1)

  /// The window a grade looks back over: the 12 months before `day` (the day itself included).
  public static func windowStart(_ day: LocalDate) -> LocalDate {
    (LocalDate(year: day.year - 1, month: day.month, day: day.day)
      ?? LocalDate(year: day.year - 1, month: day.month, day: 28)!).adding(days: 1)
  }

  public struct Evaluation: Sendable, Hashable {
    public var score: Int
    public var grade: String
    public var failures: [Severity: Int]
    public var overdueOrders: Int
  }

  /// The evaluation of failures found within the window and orders overdue as of its last day.
  /// Counts are whatever the store holds: the arithmetic saturates rather than trapping, and the
  /// score never goes below 0.
  public func evaluate(failures: [Severity], overdueOrders: Int) -> Evaluation {
    var counts: [Severity: Int] = [:]
    for f in failures { counts[f, default: 0] += 1 }
    var lost = 0
    for (severity, n) in counts {
      let (product, overflow) = (perFailure[severity] ?? 0).multipliedReportingOverflow(by: n)
      lost = overflow ? Int.max : lost.addingReportingOverflow(product).overflow ? Int.max : lost + product
    }
    let (overdueLoss, o) = perOverdueOrder.multipliedReportingOverflow(by: max(0, overdueOrders))
    lost = o || lost.addingReportingOverflow(overdueLoss).overflow ? Int.max : lost + overdueLoss
    let score = lost >= 100 ? 0 : 100 - lost
    var grade = bands.first { score >= $0.atLeast }?.grade ?? bands.last?.grade ?? "D"
    if counts[.critical, default: 0] > 0, let capIndex = bands.firstIndex(where: { $0.grade == criticalCap }),
      let gradeIndex = bands.firstIndex(where: { $0.grade == grade }), gradeIndex < capIndex
    {
      grade = criticalCap
    }
    return Evaluation(score: score, grade: grade, failures: counts, overdueOrders: max(0, overdueOrders))
  }
}
