/// Connection-level events of an `H2Connection`, on its event loop.
public protocol H2ConnectionDelegate: AnyObject {
  /// A peer opened a stream (server role). Return its delegate, or nil to refuse it.
  func h2Connection(
    _ connection: H2Connection, openedStream stream: H2Stream
  )
    -> (any H2StreamDelegate)?
  /// The peer sent GOAWAY: streams above `lastStreamID` were not processed.
  func h2Connection(_ connection: H2Connection, receivedGoAway lastStreamID: Int32, error: H2ErrorCode)
  /// A PING we sent was acknowledged.
  func h2Connection(_ connection: H2Connection, receivedPingAck opaque: UInt64)
  /// The connection is gone; every open stream has been told.
  func h2ConnectionClosed(_ connection: H2Connection)
}

extension H2ConnectionDelegate {
  public func h2Connection(
    _ connection: H2Connection, openedStream stream: H2Stream
  )
    -> (any H2StreamDelegate)?
  { nil }
  public func h2Connection(_ connection: H2Connection, receivedGoAway lastStreamID: Int32, error: H2ErrorCode) {}
  public func h2Connection(_ connection: H2Connection, receivedPingAck opaque: UInt64) {}
  public func h2ConnectionClosed(_ connection: H2Connection) {}
}
