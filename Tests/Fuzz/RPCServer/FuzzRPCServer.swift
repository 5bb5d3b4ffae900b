// libFuzzer target: the whole server stack — H2, the call state machine, deframing, inflating,
// routing, the interop TestService's handlers — fed arbitrary bytes over a loopback connection
// to a server running in this process (so AddressSanitizer sees its threads too). Each input is
// one connection: the preface (unless the first byte's low bit says not to), the input, then
// whatever the server answers within a few milliseconds, then close.
import Foundation
import FuzzSupport
import Interop
import NIOPosix
import RPC
import RPCHealth

#if canImport(Glibc)
  import Glibc
#endif

/// The server, started once for the process.
let serverPort: Int = {
  let done = DispatchSemaphore(value: 0)
  nonisolated(unsafe) var port = 0
  Task {
    var configuration = RPCServer.Configuration(host: "127.0.0.1", port: 0)
    configuration.http2.headerTimeout = .milliseconds(200)
    configuration.maxReceiveMessageSize = 1 << 20
    let health = HealthService()
    let server = try RPCServer(configuration: configuration, services: [TestServiceImpl(), health])
    port = try await server.start()
    done.signal()
    // Runs for the life of the process.
    try await Task.sleep(for: .seconds(86_400 * 365))
    _ = server
  }
  done.wait()
  return port
}()

let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRPCServer(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
  var input = FuzzInput(data, count)
  let mode = input.byte()
  let bytes = (mode & 1 == 0 ? preface : []) + Array(input.bytes)
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { return 0 }
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = in_port_t(UInt16(serverPort).bigEndian)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let connected = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
  }
  guard connected == 0 else { return 0 }
  var timeout = timeval(tv_sec: 0, tv_usec: 5_000)
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
  // Bit 1: half-close after sending (the server sees the end of the client's bytes).
  if mode & 2 != 0 { shutdown(fd, Int32(SHUT_WR)) }
  var buffer = [UInt8](repeating: 0, count: 65_536)
  for _ in 0..<8 {
    let n = recv(fd, &buffer, buffer.count, 0)
    if n <= 0 { break }
  }
  return 0
}

#if !FUZZING
  @main struct Replay {
    static func main() { FuzzReplay.main(Array(CommandLine.arguments.dropFirst()), fuzzRPCServer) }
  }
#endif
