// libFuzzer target: arbitrary bytes into an H2Connection acting as a server, whose streams
// answer (headers, echoed data, trailers), with time moved on past every limit's timer.
import FuzzSupport
import H2
import NIOCore
import NIOEmbedded

/// Answers every stream: echoes its data, ends with trailers.
final class Answering: H2ConnectionDelegate, H2StreamDelegate {
  func h2Connection(_ connection: H2Connection, openedStream stream: H2Stream) -> (any H2StreamDelegate)? { self }
  func h2Stream(_ stream: H2Stream, receivedHeaders headers: [H2Header], endStream: Bool) {
    stream.sendHeaders([H2Header(":status", "200"), H2Header("content-type", "application/grpc")], endStream: false)
    if endStream { stream.sendTrailers([H2Header("grpc-status", "0")]) }
  }
  func h2Stream(_ stream: H2Stream, receivedData data: ByteBuffer, endStream: Bool) {
    stream.consume(data.readableBytes)
    stream.sendData(data, endStream: false)
    if endStream { stream.sendTrailers([H2Header("grpc-status", "0")]) }
  }
  func h2Stream(_ stream: H2Stream, closedWith error: H2ErrorCode) {}
}

let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzH2Server(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
  var input = FuzzInput(data, count)
  let mode = input.byte()
  let delegate = Answering()
  let server = H2Connection(role: .server, delegate: delegate)
  let channel = EmbeddedChannel(handler: server)
  _ = try? channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
  // Low bit clear: a valid preface first, so the fuzzer reaches the frames.
  var bytes = mode & 1 == 0 ? preface[...] : []
  bytes += input.bytes
  // Fed in pieces of a size the input chooses (1–256 bytes, or all at once).
  let piece = mode >> 1 == 0 ? bytes.count : Int(mode >> 1) * 2
  var rest = bytes
  while !rest.isEmpty && channel.isActive {
    let chunk = rest.prefix(max(piece, 1))
    rest = rest.dropFirst(chunk.count)
    _ = try? channel.writeInbound(ByteBuffer(bytes: chunk))
    channel.embeddedEventLoop.run()
    while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
  }
  channel.embeddedEventLoop.advanceTime(by: .hours(3))
  while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
  _ = try? channel.finish()
  return 0
}

// A plain build replays the inputs given (files or directories) through the target; built for
// libFuzzer (-D FUZZING), libFuzzer's own main runs instead.
#if !FUZZING
  @main struct Replay {
    static func main() { FuzzReplay.main(Array(CommandLine.arguments.dropFirst()), fuzzH2Server) }
  }
#endif
