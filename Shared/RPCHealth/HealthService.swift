import NIOConcurrencyHelpers
import RPC

public typealias ServingStatus = Grpc_Health_V1_HealthCheckResponse.ServingStatus

/// `grpc.health.v1.Health`: Check and Watch over a table of service statuses. The empty service
/// name stands for the whole server. Kubernetes' native gRPC probes call Check.
public final class HealthService: Grpc_Health_V1_Health.ServiceProtocol {
  private struct State {
    var statuses: [String: ServingStatus] = ["": .serving]
    var watchers: [String: [UInt64: AsyncStream<ServingStatus>.Continuation]] = [:]
    var nextID: UInt64 = 0
  }

  private let state = NIOLockedValueBox(State())

  public init() {}

  /// Sets `service`'s status and tells its watchers.
  public func setStatus(_ status: ServingStatus, for service: String = "") {
    let watchers = state.withLockedValue { state in
      state.statuses[service] = status
      return Array((state.watchers[service] ?? [:]).values)
    }
    for w in watchers { w.yield(status) }
  }

  /// Every service named so far, the whole server ("") included.
  public var serviceNames: [String] {
    state.withLockedValue { Array($0.statuses.keys) }
  }

  /// The status of `service`, nil if unknown.
  public func status(of service: String) -> ServingStatus? {
    state.withLockedValue { $0.statuses[service] }
  }

  public func check(
    request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
  ) async throws -> Grpc_Health_V1_HealthCheckResponse {
    guard let status = status(of: request.service) else {
      throw RPCError(code: .notFound, message: "unknown service \(request.service)")
    }
    return .with { $0.status = status }
  }

  public func watch(
    request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext,
    responses: ResponseWriter<Grpc_Health_V1_HealthCheckResponse>
  ) async throws {
    let (stream, continuation) = AsyncStream.makeStream(
      of: ServingStatus.self, bufferingPolicy: .bufferingNewest(1))
    let service = request.service
    let id = state.withLockedValue { state -> UInt64 in
      state.nextID += 1
      state.watchers[service, default: [:]][state.nextID] = continuation
      continuation.yield(state.statuses[service] ?? .serviceUnknown)
      return state.nextID
    }
    defer { _ = state.withLockedValue { $0.watchers[service]?.removeValue(forKey: id) } }
    var last: ServingStatus?
    for await status in stream where status != last {
      last = status
      try await responses.write(.with { $0.status = status })
    }
    throw CancellationError()
  }
}
