import Postgres

/// Writes domain events to the service's outbox, inside the transaction of the change itself,
/// so an event exists exactly when its change committed.
public enum Outbox {
  @discardableResult
  public static func append(
    _ tx: PostgresSession, eventType: String, subject: String, payload: PostgresJSON = PostgresJSON("{}")
  ) async throws -> Int64 {
    try await tx.query(
      """
      INSERT INTO outbox (event_type, subject, payload) VALUES (\(eventType), \(subject), \(payload))
      RETURNING cursor
      """)[0].decode(Int64.self, at: 0)
  }
}
