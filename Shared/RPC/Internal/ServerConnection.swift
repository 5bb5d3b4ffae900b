import H2
import NIOCore

/// The server side of one HTTP/2 connection: turns each new stream into a `ServerCall`.
final class ServerConnection: H2ConnectionDelegate {
  let server: RPCServer.Shared
  let eventLoop: any EventLoop
  let executor: EventLoopTaskExecutor
  let peer: String

  init(server: RPCServer.Shared, channel: any Channel) {
    self.server = server
    self.eventLoop = channel.eventLoop
    self.executor = EventLoopTaskExecutor(channel.eventLoop)
    if let address = channel.remoteAddress {
      switch address {
      case .v4: self.peer = "ipv4:\(address.ipAddress ?? ""):\(address.port ?? 0)"
      case .v6: self.peer = "ipv6:[\(address.ipAddress ?? "")]:\(address.port ?? 0)"
      case .unixDomainSocket: self.peer = "unix:\(address.pathname ?? "")"
      }
    } else {
      self.peer = "unknown"
    }
  }

  func h2Connection(
    _ connection: H2Connection, openedStream stream: H2Stream
  )
    -> (any H2StreamDelegate)?
  {
    ServerCall(stream: stream, connection: self)
  }
}
