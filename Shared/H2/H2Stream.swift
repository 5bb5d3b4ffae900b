import CNGHTTP2
import NIOCore

/// One HTTP/2 stream of an `H2Connection`. Confined to the connection's event loop: every method
/// must be called there. Sending only queues; the connection writes on its next flush.
public final class H2Stream {
  /// The HTTP/2 stream identifier.
  public let id: Int32
  /// Receives this stream's events; released when the stream closes.
  public var delegate: (any H2StreamDelegate)?
  /// A slot for the layer above (e.g. the call this stream carries).
  public var userData: AnyObject?

  weak var connection: H2Connection?
  /// Why the connection was lost, when the stream ended with it (a TLS handshake refused, …).
  public internal(set) var lostReason: String?

  // Inbound, filled by nghttp2 callbacks and handed out on dispatch.
  var pendingHeaders: [H2Header] = []
  var pendingHeaderBytes = 0
  var inbound: ByteBuffer
  var unconsumed = 0
  var sawFirstHeaders = false

  // Outbound, drained by the data provider during `mem_send`.
  var outbound: ByteBuffer
  var endAfterData = false
  var trailers: [H2Header]?
  var providerAttached = false
  var deferred = false
  var headersSent = false
  var aboveHighWatermark = false
  public internal(set) var isClosed = false

  init(id: Int32, connection: H2Connection, empty: ByteBuffer) {
    self.id = id
    self.connection = connection
    self.inbound = empty
    self.outbound = empty
  }

  /// Whether the stream can take more outbound data without passing its high watermark.
  public var isWritable: Bool { !aboveHighWatermark }

  /// Bytes queued for sending and not yet taken by nghttp2.
  public var bufferedOutboundBytes: Int { outbound.readableBytes }

  /// Sends response headers (server) or extra headers. With `endStream`, the headers end the
  /// stream (a trailers-only response).
  public func sendHeaders(_ headers: [H2Header], endStream: Bool) {
    guard let connection, !isClosed, !endAfterData else { return }
    connection.submitHeaders(self, headers, endStream: endStream)
  }

  /// Queues body bytes; with `endStream` they are the last.
  public func sendData(_ data: ByteBuffer, endStream: Bool = false) {
    guard let connection, !isClosed, !endAfterData else { return }
    var data = data
    outbound.writeBuffer(&data)
    if endStream { endAfterData = true }
    if outbound.readableBytes >= connection.settings.streamHighWatermark { aboveHighWatermark = true }
    connection.dataQueued(self)
  }

  /// Queues the trailers, which end the stream after any queued data.
  public func sendTrailers(_ headers: [H2Header]) {
    guard let connection, !isClosed, !endAfterData else { return }
    if !headersSent {
      connection.submitHeaders(self, headers, endStream: true)
      return
    }
    trailers = headers
    endAfterData = true
    connection.dataQueued(self)
  }

  /// Resets the stream with `code` (RST_STREAM).
  public func reset(_ code: H2ErrorCode = .cancel) {
    guard let connection, !isClosed else { return }
    connection.resetStream(self, code)
  }

  /// Returns `count` received bytes to the flow-control windows of the stream and connection.
  public func consume(_ count: Int) {
    guard count > 0, let connection else { return }
    let n = min(count, unconsumed)
    unconsumed -= n
    connection.consume(streamID: id, count: n)
  }
}
