import API
import Logging
import Postgres
import RPC
import ServiceLifecycle

/// Background work that follows another service's change feed for as long as the process runs
/// (`ChangeFeedConsumer.follow`: exactly once, resuming from the stored cursor after any
/// interruption) and stops at graceful shutdown. Add it with `ServiceDependencies.addBackground`.
public struct FeedFollower: Service {
  public let consumer: ChangeFeedConsumer
  public let client: RPCClient
  public let logger: Logger
  public let effect: @Sendable (Tuoyu_Feed_V1_Event, PostgresSession) async throws -> Void

  public init(
    consumer: ChangeFeedConsumer, client: RPCClient, logger: Logger,
    effect: @escaping @Sendable (Tuoyu_Feed_V1_Event, PostgresSession) async throws -> Void
  ) {
    self.consumer = consumer
    self.client = client
    self.logger = logger
    self.effect = effect
  }

  public func run() async throws {
    let (consumer, client, logger, effect) = (self.consumer, self.client, self.logger, self.effect)
    await cancelWhenGracefulShutdown {
      await consumer.follow(client: client, logger: logger, effect)
    }
    await client.close()
  }
}
