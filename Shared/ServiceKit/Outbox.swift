import Postgres
import SwiftProtobuf

/// Writes domain events to the service's outbox, inside the transaction of the change itself,
/// so an event exists exactly when its change committed. An event's payload is a protobuf message
/// of the service's contract (e.g. `tuoyu.registry.v1.InstitutionEvent`), stored as its JSON
/// (proto field names) so that readers without the contract can read it too.
public enum Outbox {
  @discardableResult
  public static func append(
    _ tx: PostgresSession, eventType: String, subject: String, event: some SwiftProtobuf.Message
  ) async throws -> Int64 {
    try await append(tx, eventType: eventType, subject: subject, payload: payload(event))
  }

  /// An event's payload: its JSON with proto field names, fields in a fixed order.
  static func payload(_ event: some SwiftProtobuf.Message) throws -> PostgresJSON {
    var options = JSONEncodingOptions()
    options.preserveProtoFieldNames = true
    options.useDeterministicOrdering = true
    return PostgresJSON(try event.jsonString(options: options))
  }

  /// Queues an event with the transaction's next statement (`PostgresSession.queue`), when its
  /// cursor is not needed.
  public static func queue(
    _ tx: PostgresSession, eventType: String, subject: String, event: some SwiftProtobuf.Message
  ) throws {
    let payload = try payload(event)
    tx.queue("INSERT INTO outbox (event_type, subject, payload) VALUES (\(eventType), \(subject), \(payload))")
  }

  /// An event without a payload, or with one already in JSON.
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
