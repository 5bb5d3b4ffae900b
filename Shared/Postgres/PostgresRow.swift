import CLibPQ

#if canImport(Glibc)
  import Glibc
#endif

/// A libpq result, freed when the last rows or row referring to it goes. Read-only once made, so
/// it may be read from any thread.
final class PostgresResult: @unchecked Sendable {
  let pointer: OpaquePointer
  let rowCount: Int
  let columnCount: Int
  /// Each column's type OID.
  let types: [UInt32]
  /// Whether the columns came in binary.
  let binary: Bool

  init(_ pointer: OpaquePointer) {
    self.pointer = pointer
    rowCount = Int(PQntuples(pointer))
    columnCount = Int(PQnfields(pointer))
    var types: [UInt32] = []
    types.reserveCapacity(columnCount)
    for c in 0..<columnCount { types.append(UInt32(PQftype(pointer, Int32(c)))) }
    self.types = types
    binary = columnCount > 0 && PQfformat(pointer, 0) == 1
  }

  deinit { PQclear(pointer) }

  func name(ofColumn c: Int) -> String { String(cString: PQfname(pointer, Int32(c))) }

  /// The column named exactly `name`.
  func column(named name: String) -> Int? {
    for c in 0..<columnCount where name.withCString({ strcmp($0, PQfname(pointer, Int32(c))) == 0 }) {
      return c
    }
    return nil
  }
}

/// The rows of a result, decoded from libpq's text form on demand, straight from its buffer.
public struct PostgresRows: Sendable, RandomAccessCollection {
  let result: PostgresResult?
  /// Rows changed by an INSERT/UPDATE/DELETE (from the command status).
  public let affectedRows: Int

  init(_ result: PostgresResult) {
    self.result = result
    var affected = 0
    if let tuples = PQcmdTuples(result.pointer) {
      var p = tuples
      while p.pointee >= 48 && p.pointee <= 57 && affected < Int.max / 10 - 9 {
        affected = affected * 10 + Int(p.pointee - 48)
        p += 1
      }
    }
    self.affectedRows = affected
  }

  private init() {
    result = nil
    affectedRows = 0
  }

  static let empty = PostgresRows()

  /// The result's columns (name and type).
  public var columns: [PostgresColumn] {
    guard let result else { return [] }
    return (0..<result.columnCount).map { PostgresColumn(name: result.name(ofColumn: $0), oid: result.types[$0]) }
  }

  public var startIndex: Int { 0 }
  public var endIndex: Int { result?.rowCount ?? 0 }
  public subscript(position: Int) -> PostgresRow {
    precondition(position >= 0 && position < endIndex, "row \(position) out of range")
    return PostgresRow(result: result!, row: position)
  }
}

/// A result column: its name and type OID.
public struct PostgresColumn: Sendable, Hashable {
  public let name: String
  public let oid: UInt32
}

/// One result row.
public struct PostgresRow: Sendable {
  let result: PostgresResult
  let row: Int

  /// The row's columns (name and type).
  public var columns: [PostgresColumn] {
    (0..<result.columnCount).map { PostgresColumn(name: result.name(ofColumn: $0), oid: result.types[$0]) }
  }

  /// Decodes column `index` as `T`, refusing a column of another type.
  public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at index: Int) throws -> T {
    guard index >= 0, index < result.columnCount else {
      throw PostgresError(.noSuchColumn, "no column \(index) (the row has \(result.columnCount))")
    }
    let oid = result.types[index]
    guard T.accepts(oid: oid) else {
      throw PostgresError(
        .typeMismatch, "column \(result.name(ofColumn: index)) has type OID \(oid), which \(T.self) cannot read")
    }
    let r = Int32(row)
    let c = Int32(index)
    if PQgetisnull(result.pointer, r, c) != 0 { return try T.decodeNull() }
    let bytes = UnsafeRawBufferPointer(
      start: UnsafeRawPointer(PQgetvalue(result.pointer, r, c)), count: Int(PQgetlength(result.pointer, r, c)))
    return try result.binary ? T.decode(postgresBinary: bytes) : T.decode(postgresBytes: bytes)
  }

  /// Decodes the column named `name` as `T`.
  public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, named name: String) throws -> T {
    guard let index = result.column(named: name) else {
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
