/// A parameterised SQL statement. Written by string interpolation: every interpolated value is
/// bound as `$n`, never spliced into the text.
///
///     let q: PostgresQuery = "SELECT name FROM registry.institution WHERE code = \(code)"
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
  public var sql: String
  public var binds: [PostgresBind]
  /// Whether the server sends the result columns in binary rather than text: bytea then arrives
  /// as its bytes (no hex on either side). Every column must be of a type read in binary (text,
  /// bytea, bool, int2/4/8).
  public var binaryResults = false

  var resultFormat: Int32 { binaryResults ? 1 : 0 }

  /// The same statement with its results in binary.
  public func binary() -> PostgresQuery {
    var q = self
    q.binaryResults = true
    return q
  }

  public init(unsafeSQL sql: String, binds: [PostgresBind] = []) {
    self.sql = sql
    self.binds = binds
  }

  public init(stringLiteral value: String) {
    self.init(unsafeSQL: value)
  }

  public init(stringInterpolation: StringInterpolation) {
    self.init(unsafeSQL: stringInterpolation.sql, binds: stringInterpolation.binds)
  }

  public struct StringInterpolation: StringInterpolationProtocol {
    var sql = ""
    var binds: [PostgresBind] = []

    public init(literalCapacity: Int, interpolationCount: Int) {
      sql.reserveCapacity(literalCapacity + interpolationCount * 3)
      binds.reserveCapacity(interpolationCount)
    }

    public mutating func appendLiteral(_ literal: String) { sql += literal }

    /// Binds `value` as the next parameter.
    public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T) {
      binds.append(PostgresBind(value))
      sql += "$\(binds.count)"
    }

    /// Binds `value` or NULL.
    public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T?) {
      binds.append(value.map(PostgresBind.init) ?? PostgresBind(oid: T.postgresOID, text: nil))
      sql += "$\(binds.count)"
    }

    /// Splices an identifier (a schema or table name) quoted as an identifier.
    public mutating func appendInterpolation(identifier: String) {
      sql += "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
  }

  /// The statement with placeholders; values are not shown (they may be personal data).
  public var description: String { "\(sql) [\(binds.count) parameters]" }
}

/// One bound parameter: its type and its text form (nil is NULL).
public struct PostgresBind: Sendable {
  public var oid: UInt32
  public var text: String?

  public init(oid: UInt32, text: String?) {
    self.oid = oid
    self.text = text
  }

  public init<T: PostgresEncodable>(_ value: T) {
    self.oid = T.postgresOID
    self.text = value.postgresText
  }
}

extension String {
  fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
    split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
  }
}
