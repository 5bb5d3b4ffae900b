/// The plans' workforce targets (浙江省/湖州市 托育服务实施方案, by 2025): 85 % of caregivers
/// certified (持证率), 3,000 newly certified 育婴员/保育员 a year, 10,000 trained in all.
public enum Targets {
  public static let certificationPermille: Int32 = 850
  public static let newlyCertifiedPerYear: Int32 = 3000
  public static let trainedCumulative: Int32 = 10000
}
