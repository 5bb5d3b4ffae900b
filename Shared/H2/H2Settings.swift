import NIOCore

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

  // Server limits, as mature gRPC servers enforce them (the defaults are grpc-go's where it has
  // one). Nil turns a limit off.

  /// Keepalive enforcement: a client PING sooner than this after the previous one (with no
  /// headers or data sent in between) is a strike; with no call open, sooner than 2 hours
  /// unless `permitPingWithoutCalls`. More than `maxPingStrikes` strikes: GOAWAY
  /// ENHANCE_YOUR_CALM ("too_many_pings") and the connection closes.
  public var minPingInterval: TimeAmount? = .minutes(5)
  public var permitPingWithoutCalls = false
  public var maxPingStrikes = 2
  /// A connection with no open stream for this long is told GOAWAY (gracefully).
  public var maxConnectionIdle: TimeAmount? = .minutes(30)
  /// A connection older than this (±10 %, so a fleet does not reconnect at once) is told GOAWAY
  /// gracefully; its calls get `maxConnectionAgeGrace` to finish, then it closes.
  public var maxConnectionAge: TimeAmount? = nil
  public var maxConnectionAgeGrace: TimeAmount = .seconds(30)
  /// Slowloris: the connection preface must arrive, and every header block be complete, within
  /// this; otherwise the connection closes.
  public var headerTimeout: TimeAmount? = .seconds(10)
  /// How many recently reset stream ids are remembered, so that frames the peer sent before it
  /// saw the reset are ignored (RFC 9113 §5.1) while a HEADERS frame on any other closed or
  /// reused stream id is a connection error (§5.1.1).
  public var rememberedResets = 1024

  public init() {}
}
