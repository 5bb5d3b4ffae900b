/// The rows of a result, decoded from text on demand.
public struct PostgresRows: Sendable, RandomAccessCollection {
  public let columns: [PostgresColumn]
  let values: [[String?]]
  /// Rows changed by an INSERT/UPDATE/DELETE (from the command status).
  public let affectedRows: Int

  public var startIndex: Int { 0 }
  public var endIndex: Int { values.count }
  public subscript(position: Int) -> PostgresRow {
    PostgresRow(columns: columns, values: values[position])
  }
}

/// A result column: its name and type OID.
public struct PostgresColumn: Sendable, Hashable {
  public let name: String
  public let oid: UInt32
}

/// One result row.
public struct PostgresRow: Sendable {
  public let columns: [PostgresColumn]
  let values: [String?]

  /// Decodes column `index` as `T`, refusing a column of another type.
  public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at index: Int) throws -> T {
    guard index < columns.count else {
      throw PostgresError(.noSuchColumn, "no column \(index) (the row has \(columns.count))")
    }
    let column = columns[index]
    guard T.acceptedOIDs.contains(column.oid) else {
      throw PostgresError(
        .typeMismatch, "column \(column.name) has type OID \(column.oid), which \(T.self) cannot read")
    }
    guard let text = values[index] else { return try T.decodeNull() }
    return try T.decode(postgresText: text)
  }

  /// Decodes the column named `name` as `T`.
  public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, named name: String) throws -> T {
    guard let index = columns.firstIndex(where: { $0.name == name }) else {
      throw PostgresError(.noSuchColumn, "no column named \(name)")
    }
    return try decode(T.self, at: index)
  }

  /// Decodes the leading columns as a tuple: `let (id, name) = try row.decode((Int, String).self)`.
  public func decode<each T: PostgresDecodable>(_ types: (repeat each T).Type) throws -> (repeat each T) {
    var index = 0
    func next<U: PostgresDecodable>(_ type: U.Type) throws -> U {
      defer { index += 1 }
      return try decode(U.self, at: index)
    }
    return (repeat try next((each T).self))
  }
}
