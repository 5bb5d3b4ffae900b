// libFuzzer target: the gRPC message deframer (length prefixes across arbitrary splits) and the
// inflater behind compressed messages, under a limit.
import FuzzSupport
import NIOCore

@_spi(Fuzzing) import RPC

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDeframer(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
  var input = FuzzInput(data, count)
  let mode = input.byte()
  var deframer = MessageDeframer(maxMessageSize: 1 << 16)
  deframer.allowCompressed = mode & 1 != 0
  let split = Int(input.byte())
  let all = input.bytes
  for part in [all.prefix(split), all.dropFirst(split)] {
    deframer.append(ByteBuffer(bytes: part))
    while true {
      guard let message = try? deframer.next() else { break }
      if deframer.lastCompressed {
        if let inflated = try? Compression.decompress(message, limit: 1 << 16) {
          precondition(inflated.readableBytes <= 1 << 16, "inflated past the limit")
        }
      }
    }
  }
  // What we compress, we inflate back to the same bytes.
  var frame = ByteBuffer()
  frame.writeInteger(UInt8(0))
  frame.writeInteger(UInt32(all.count))
  frame.writeBytes(all)
  for encoding in MessageEncoding.allCases {
    var compressed = Compression.compressFrame(frame, encoding)
    compressed.moveReaderIndex(forwardBy: 5)
    let back = try? Compression.decompress(compressed, limit: all.count + 1)
    precondition(back.map { Array($0.readableBytesView) == Array(all) } ?? false, "compression round trip")
  }
  return 0
}

// A plain build replays the inputs given (files or directories) through the target; built for
// libFuzzer (-D FUZZING), libFuzzer's own main runs instead.
#if !FUZZING
  @main struct Replay {
    static func main() { FuzzReplay.main(Array(CommandLine.arguments.dropFirst()), fuzzDeframer) }
  }
#endif
