import NIOCore

/// Receives the events of one HTTP/2 stream. Called on the connection's event loop, never while
/// nghttp2 is running, so a delegate may call back into its `H2Stream` freely.
public protocol H2StreamDelegate: AnyObject {
  /// A complete header block: the request or response headers, or trailers.
  func h2Stream(_ stream: H2Stream, receivedHeaders headers: [H2Header], endStream: Bool)
  /// The body bytes of one DATA frame. Credit them back with `H2Stream.consume(_:)` once used.
  func h2Stream(_ stream: H2Stream, receivedData data: ByteBuffer, endStream: Bool)
  /// The stream closed: `.noError` after a clean end both ways, else the reset's code.
  func h2Stream(_ stream: H2Stream, closedWith error: H2ErrorCode)
  /// The stream's buffered outbound bytes fell below the low watermark again.
  func h2StreamBecameWritable(_ stream: H2Stream)
}

extension H2StreamDelegate {
  public func h2StreamBecameWritable(_ stream: H2Stream) {}
}
