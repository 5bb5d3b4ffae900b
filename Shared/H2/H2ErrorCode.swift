/// An HTTP/2 error code (RFC 9113 §7), as carried by RST_STREAM and GOAWAY.
public struct H2ErrorCode: Sendable, Hashable, CustomStringConvertible {
  public let rawValue: UInt32
  public init(_ rawValue: UInt32) { self.rawValue = rawValue }

  public static let noError = H2ErrorCode(0x0)
  public static let protocolError = H2ErrorCode(0x1)
  public static let internalError = H2ErrorCode(0x2)
  public static let flowControlError = H2ErrorCode(0x3)
  public static let settingsTimeout = H2ErrorCode(0x4)
  public static let streamClosed = H2ErrorCode(0x5)
  public static let frameSizeError = H2ErrorCode(0x6)
  public static let refusedStream = H2ErrorCode(0x7)
  public static let cancel = H2ErrorCode(0x8)
  public static let compressionError = H2ErrorCode(0x9)
  public static let connectError = H2ErrorCode(0xa)
  public static let enhanceYourCalm = H2ErrorCode(0xb)
  public static let inadequateSecurity = H2ErrorCode(0xc)
  public static let http11Required = H2ErrorCode(0xd)

  public var description: String {
    let names = [
      "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
      "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
      "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
    ]
    return rawValue < names.count ? names[Int(rawValue)] : "0x\(String(rawValue, radix: 16))"
  }
}
