#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
import Foundation

/// The text encoding of the files the CLI reads and the CSV it writes: UTF-8 (written with a
/// byte-order mark, so that Excel and WPS on Windows open it as UTF-8) or GBK (read as GB 18030,
/// its superset; written as GB 18030, which is GBK for every character GBK has) through iconv.
enum TextEncoding: String, CaseIterable {
  case utf8 = "utf-8"
  case gbk

  /// The text of `data`, or nil when it is not valid in this encoding.
  func decode(_ data: Data) -> String? {
    switch self {
    case .utf8: return String(data: data, encoding: .utf8)
    case .gbk:
      guard let bytes = Self.convert(Array(data), from: "GB18030", to: "UTF-8") else { return nil }
      return String(validating: bytes, as: UTF8.self)
    }
  }

  /// `text` for a file or a pipe: UTF-8 with a BOM when `bom`, or GB 18030.
  func encode(_ text: String, bom: Bool) -> Data {
    switch self {
    case .utf8: return Data(((bom ? "\u{FEFF}" : "") + text).utf8)
    case .gbk: return Data(Self.convert(Array(text.utf8), from: "UTF-8", to: "GB18030") ?? [])
    }
  }

  /// iconv from one encoding to another; nil when the input is not valid in `from`.
  static func convert(_ input: [UInt8], from: String, to: String) -> [UInt8]? {
    let cd = iconv_open(to, from)
    guard cd != iconv_t(bitPattern: -1) else { return nil }
    defer { iconv_close(cd) }
    var output = [UInt8](repeating: 0, count: input.count * 4 + 16)
    var inBytes = input.map { CChar(bitPattern: $0) }
    let produced: Int? = inBytes.withUnsafeMutableBufferPointer { inBuf in
      output.withUnsafeMutableBytes { outBuf in
        var inPtr: UnsafeMutablePointer<CChar>? = inBuf.baseAddress
        var inLeft = inBuf.count
        var outPtr: UnsafeMutablePointer<CChar>? = outBuf.baseAddress!.assumingMemoryBound(to: CChar.self)
        var outLeft = outBuf.count
        if inLeft > 0 {
          guard iconv(cd, &inPtr, &inLeft, &outPtr, &outLeft) != -1 || inLeft == 0 else { return nil }
        }
        guard inLeft == 0 else { return nil }
        return outBuf.count - outLeft
      }
    }
    guard let produced else { return nil }
    return Array(output[..<produced])
  }
}
