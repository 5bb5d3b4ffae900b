// libFuzzer target: what a server or client parses out of header values — grpc-timeout,
// percent-encoded grpc-message, base64 -bin values, metadata keys and values, content-type —
// with round-trip oracles where there is an inverse.
import FuzzSupport
import NIOCore

@_spi(Fuzzing) import RPC

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHeaders(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: count))
  let text = String(decoding: bytes, as: UTF8.self)
  if let ns = GRPCTimeout.parse(text) { precondition(ns >= 0, "negative timeout") }
  _ = PercentEncoding.decode(text)
  precondition(PercentEncoding.decode(PercentEncoding.encode(text)) == text, "percent-encoding round trip")
  _ = Base64.decode(text)
  precondition(Base64.decode(Base64.encode(bytes)) == bytes, "base64 round trip")
  _ = Metadata.problem(key: text, value: .string(text))
  _ = Metadata.problem(key: text + "-bin", value: .binary(bytes))
  _ = MessageEncoding.accepted(text)
  return 0
}

// A plain build replays the inputs given (files or directories) through the target; built for
// libFuzzer (-D FUZZING), libFuzzer's own main runs instead.
#if !FUZZING
  @main struct Replay {
    static func main() { FuzzReplay.main(Array(CommandLine.arguments.dropFirst()), fuzzHeaders) }
  }
#endif
