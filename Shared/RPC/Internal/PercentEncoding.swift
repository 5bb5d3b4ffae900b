/// `grpc-message` percent-encoding: bytes outside printable ASCII, and `%`, become `%XX`.
@_spi(Fuzzing) public enum PercentEncoding {
  private static let hex = Array("0123456789ABCDEF".utf8)

  public static func encode(_ message: String) -> String {
    var needs = false
    for b in message.utf8 where b < 0x20 || b > 0x7E || b == UInt8(ascii: "%") {
      needs = true
      break
    }
    guard needs else { return message }
    var out = [UInt8]()
    out.reserveCapacity(message.utf8.count * 3)
    for b in message.utf8 {
      if b < 0x20 || b > 0x7E || b == UInt8(ascii: "%") {
        out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xF)]]
      } else {
        out.append(b)
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Decodes `%XX` sequences; a malformed sequence is kept as it is.
  public static func decode(_ text: String) -> String {
    guard text.utf8.contains(UInt8(ascii: "%")) else { return text }
    let bytes = Array(text.utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count)
    var i = 0
    while i < bytes.count {
      if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count,
        let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2])
      {
        out.append(hi << 4 | lo)
        i += 3
      } else {
        out.append(bytes[i])
        i += 1
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  private static func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
  }
}
