/// The local HTTP/2 settings and limits of one connection.
public struct H2Settings: Sendable {
  /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise (streams the peer may open to us).
  public var maxConcurrentStreams: UInt32 = 100
  /// SETTINGS_INITIAL_WINDOW_SIZE: per-stream receive window.
  public var initialWindowSize: UInt32 = 1 << 20
  /// Connection-level receive window.
  public var connectionWindowSize: Int32 = 8 << 20
  /// SETTINGS_MAX_FRAME_SIZE we accept.
  public var maxFrameSize: UInt32 = 1 << 14
  /// SETTINGS_MAX_HEADER_LIST_SIZE: a received header block above this resets its stream.
  public var maxHeaderListSize: UInt32 = 16 << 10
  /// Peer RST_STREAM rate limit (token bucket): burst and tokens per second. Server only.
  public var resetBurst: UInt64 = 1000
  public var resetRate: UInt64 = 33
  /// Outbound bytes buffered per stream above which the stream reports itself not writable.
  public var streamHighWatermark: Int = 64 << 10

  public init() {}
}
