/// An error of the Postgres layer, with SQLSTATE mapped once to what callers act on.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
  public enum Kind: Sendable, Hashable {
    case uniqueViolation
    case foreignKeyViolation
    case checkViolation
    case notNullViolation
    case serializationFailure
    case deadlockDetected
    case queryCanceled
    case connectionLost
    case connectFailed
    case poolExhausted
    case poolClosed
    case typeMismatch
    case unexpectedNull
    case noSuchColumn
    /// A text parameter holds a NUL character, which Postgres text cannot store (libpq would
    /// silently cut the value there); refused before anything is sent.
    case nulInText
    case other
  }

  public var kind: Kind
  public var message: String
  /// The five-character SQLSTATE, when the server sent one.
  public var sqlState: String?
  /// The constraint named by the server (unique, foreign key, check), if any.
  public var constraint: String?

  public init(_ kind: Kind, _ message: String, sqlState: String? = nil, constraint: String? = nil) {
    self.kind = kind
    self.message = message
    self.sqlState = sqlState
    self.constraint = constraint
  }

  /// Whether running the transaction again may succeed.
  public var isRetryable: Bool { kind == .serializationFailure || kind == .deadlockDetected }

  public var description: String {
    var s = "\(kind): \(message)"
    if let sqlState { s += " (SQLSTATE \(sqlState))" }
    if let constraint { s += " [constraint \(constraint)]" }
    return s
  }

  static func kind(forSQLState state: String) -> Kind {
    switch state {
    case "23505": .uniqueViolation
    case "23503": .foreignKeyViolation
    case "23514": .checkViolation
    case "23502": .notNullViolation
    case "40001": .serializationFailure
    case "40P01": .deadlockDetected
    case "57014": .queryCanceled
    case "57P01", "57P02", "57P03": .connectionLost
    default: state.hasPrefix("08") ? .connectionLost : .other
    }
  }
}
