// libFuzzer target: an H2Connection acting as a client, with one request open, fed arbitrary
// bytes as the server's.
import FuzzSupport
import H2
import NIOCore
import NIOEmbedded

final class Recording: H2ConnectionDelegate, H2StreamDelegate {
  func h2Stream(_ stream: H2Stream, receivedHeaders headers: [H2Header], endStream: Bool) {}
  func h2Stream(_ stream: H2Stream, receivedData data: ByteBuffer, endStream: Bool) {
    stream.consume(data.readableBytes)
  }
  func h2Stream(_ stream: H2Stream, closedWith error: H2ErrorCode) {}
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzH2Client(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
  var input = FuzzInput(data, count)
  let mode = input.byte()
  let delegate = Recording()
  let client = H2Connection(role: .client, delegate: delegate)
  let channel = EmbeddedChannel(handler: client)
  _ = try? channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
  let stream = try? client.openStream(
    headers: [
      H2Header(":method", "POST"), H2Header(":scheme", "http"), H2Header(":path", "/s/M"),
      H2Header(":authority", "x"), H2Header("content-type", "application/grpc"),
    ], endStream: mode & 2 != 0, delegate: delegate)
  if mode & 2 == 0 { stream?.sendData(ByteBuffer(bytes: [0, 0, 0, 0, 1, 7]), endStream: true) }
  channel.embeddedEventLoop.run()
  while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
  // Low bit clear: the server's SETTINGS first.
  var bytes: ArraySlice<UInt8> = mode & 1 == 0 ? [0, 0, 0, 4, 0, 0, 0, 0, 0] : []
  bytes += input.bytes
  _ = try? channel.writeInbound(ByteBuffer(bytes: bytes))
  channel.embeddedEventLoop.run()
  if mode & 4 != 0 { client.ping(7) }
  while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
  _ = try? channel.finish()
  return 0
}

// A plain build replays the inputs given (files or directories) through the target; built for
// libFuzzer (-D FUZZING), libFuzzer's own main runs instead.
#if !FUZZING
  @main struct Replay {
    static func main() { FuzzReplay.main(Array(CommandLine.arguments.dropFirst()), fuzzH2Client) }
  }
#endif
