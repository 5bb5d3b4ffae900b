/// Runs around every call of a server: authentication, authorization, audit, logging, metrics.
/// An interceptor may refuse the call by throwing an `RPCError` before calling `next`, and sees
/// the handler's outcome as `next`'s result or error.
public protocol ServerInterceptor: Sendable {
  func intercept(
    context: ServerContext, next: (ServerContext) async throws -> Void
  ) async throws
}

/// Runs `interceptors` in order around `body`.
func intercepting(
  _ interceptors: ArraySlice<any ServerInterceptor>, context: ServerContext,
  _ body: (ServerContext) async throws -> Void
) async throws {
  guard let first = interceptors.first else {
    try await body(context)
    return
  }
  try await first.intercept(context: context) { ctx in
    try await intercepting(interceptors.dropFirst(), context: ctx, body)
  }
}
