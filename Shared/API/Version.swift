/// The version of tuoyu every executable reports (`--version`): the contract and the code ship
/// together, so one number names both.
public enum TuoyuVersion {
  public static let string = "0.11.0"
}
