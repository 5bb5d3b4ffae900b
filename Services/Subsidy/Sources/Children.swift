import API
import Postgres
import RPC
import RegistryView
import ServiceKit
import SubsidyAPI

extension SubsidyService {
  /// Most rows one ImportChildren call takes.
  public static let maxImportRows = 100_000

  /// A child by resident ID number (GB 11643, date of birth not in the future), kept only as the
  /// vault's keyed hash and sealed copy; the date of birth is read from the number.
  public func registerChild(
    request: Tuoyu_Subsidy_V1_RegisterChildRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Child {
    try checkID(request.idNumber, field: "id_number")
    try require(county: request.countyCode, context, field: "county_code")
    try await requireKnown(region: request.countyCode, field: "county_code", county: true)
    var audited = request
    audited.idNumber = tag(request.idNumber)
    let id = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: audited, target: "children"
    ) { tx -> Tuoyu_Subsidy_V1_Child in
      // Any key's hash of the number finds a child registered before a key rotation.
      guard try await childID(tx, request.idNumber, lock: false) == nil,
        let id = try await insertChild(
          tx, idNumber: request.idNumber, localHukou: request.localHukou, county: request.countyCode,
          hardship: request.hardship, by: Principal.caller(context).subject)
      else {
        throw Refusal(
          .alreadyExists, rule: "child.unique-id-number", field: "id_number",
          "a child with this ID number is already registered")
      }
      return .with { $0.childID = id }
    }.childID
    return try await pool.withConnection { try await child($0, id, context)! }
  }

  public func updateChild(
    request: Tuoyu_Subsidy_V1_UpdateChildRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Child {
    _ = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "children/\(request.childID)"
    ) { tx -> Tuoyu_Subsidy_V1_Child in
      guard try await child(tx, request.childID, context) != nil else {
        throw Refusal(.notFound, rule: "child.known", field: "child_id", "no child \(request.childID)")
      }
      try await tx.query(
        """
        UPDATE child SET local_hukou = \(request.localHukou), hardship = \(request.hardship)
        WHERE child_id = \(request.childID)
        """)
      return .with { $0.childID = request.childID }
    }
    return try await pool.withConnection { try await child($0, request.childID, context)! }
  }

  /// Enrols a child at an institution the registry knows, from a day (at most one open enrolment).
  public func enrolChild(
    request: Tuoyu_Subsidy_V1_EnrolChildRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Child {
    let start = try day(request.startOn, field: "start_on")
    guard start <= today() else {
      throw Refusal.invalid("start_on", rule: "enrolment.not-future", "\(start) is in the future")
    }
    _ = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "children/\(request.childID)"
    ) { tx -> Tuoyu_Subsidy_V1_Child in
      guard try await child(tx, request.childID, context, lock: true) != nil else {
        throw Refusal(.notFound, rule: "child.known", field: "child_id", "no child \(request.childID)")
      }
      try await enrol(tx, child: request.childID, creditCode: request.creditCode, start: start)
      return .with { $0.childID = request.childID }
    }
    return try await pool.withConnection { try await child($0, request.childID, context)! }
  }

  public func endEnrolment(
    request: Tuoyu_Subsidy_V1_EndEnrolmentRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Child {
    let end = try day(request.endOn, field: "end_on")
    _ = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "children/\(request.childID)"
    ) { tx -> Tuoyu_Subsidy_V1_Child in
      guard try await child(tx, request.childID, context, lock: true) != nil else {
        throw Refusal(.notFound, rule: "child.known", field: "child_id", "no child \(request.childID)")
      }
      let rows = try await tx.query(
        "SELECT enrolment_id, start_on FROM enrolment WHERE child_id = \(request.childID) AND end_on IS NULL")
      guard let r = rows.first else {
        throw Refusal.precondition("enrolment.open", "the child has no open enrolment", field: "child_id")
      }
      let (enrolment, started) = try r.decode((Int64, LocalDate).self)
      guard end >= started else {
        throw Refusal.invalid("end_on", rule: "enrolment.dates", "\(end) is before the enrolment began (\(started))")
      }
      try await tx.query("UPDATE enrolment SET end_on = \(end) WHERE enrolment_id = \(enrolment)")
      return .with { $0.childID = request.childID }
    }
    return try await pool.withConnection { try await child($0, request.childID, context)! }
  }

  public func getChild(
    request: Tuoyu_Subsidy_V1_GetChildRequest, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_Child {
    guard let c = try await pool.withConnection({ try await child($0, request.childID, context) }) else {
      throw Refusal(.notFound, rule: "child.known", field: "child_id", "no child \(request.childID)")
    }
    return c
  }

  /// Children per row (`Mutation.eachRow`): registered or matched by ID number, enrolled when the
  /// row names an institution; each row audited without its number.
  public func importChildren(
    requests: RequestStream<Tuoyu_Subsidy_V1_ChildImportRow>, context: ServerContext
  ) async throws -> Tuoyu_Subsidy_V1_ImportChildrenResponse {
    var response = Tuoyu_Subsidy_V1_ImportChildrenResponse()
    let by = Principal.caller(context).subject
    let (received, imported, unchanged) = try await Mutation.eachRow(
      pool, context: context, rows: requests, maxRows: Self.maxImportRows,
      validateOnly: { first in
        response.validateOnly = first.validateOnly
        return first.validateOnly
      },
      target: { "children/\(tag($0.idNumber))" }, requestID: { "import:row:\($0.row)" },
      auditedAs: { row in
        var r = row
        r.idNumber = tag(row.idNumber)
        return r
      },
      { row, tx in try await importRow(row, by: by, context: context, tx) },
      report: { row, outcome in
        guard let error = outcome.error else { return }
        response.failures.append(
          .with {
            $0.row = row.row
            $0.code = error.code.description
            $0.message = error.message
            $0.rule = outcome.rule
          })
      },
      stopped: { row in
        response.failures.append(
          .with {
            $0.row = row.row
            $0.code = Status.Code.resourceExhausted.description
            $0.message = "an import takes at most \(Self.maxImportRows) rows; send the rest in another call"
            $0.rule = "import.max-rows"
          })
      })
    response.received = Int32(received)
    response.imported = Int32(imported)
    response.unchanged = Int32(unchanged)
    return response
  }

  func importRow(
    _ row: Tuoyu_Subsidy_V1_ChildImportRow, by: String, context: ServerContext, _ tx: PostgresSession
  ) async throws -> Mutation.RowEffect {
    try checkID(row.idNumber, field: "id_number")
    try require(county: row.countyCode, context, field: "county_code")
    try await requireKnown(region: row.countyCode, field: "county_code", county: true)
    var start = today()
    if row.startOn != Tuoyu_Common_V1_Date() {
      guard let d = LocalDate(row.startOn), d <= today() else {
        throw Refusal.invalid("start_on", rule: "date.valid", "the start date is not a past date")
      }
      start = d
    }
    var changed = false
    let id: Int64
    if let found = try await childID(tx, row.idNumber, lock: true) {
      // Matched: only a child within the caller's reach (NOT_FOUND otherwise, nothing revealed).
      guard try await child(tx, found, context) != nil else {
        throw Refusal(.notFound, rule: "child.known", field: "id_number", "no such child within your reach")
      }
      id = found
    } else {
      guard
        let new = try await insertChild(
          tx, idNumber: row.idNumber, localHukou: row.localHukou, county: row.countyCode, hardship: row.hardship, by: by
        )
      else { throw Refusal(.alreadyExists, rule: "child.unique-id-number", field: "id_number", "registered meanwhile") }
      id = new
      changed = true
    }
    if !row.creditCode.isEmpty {
      let open = try await tx.query(
        "SELECT credit_code FROM enrolment WHERE child_id = \(id) AND end_on IS NULL"
      ).first.map { try $0.decode(String.self, at: 0) }
      if open != row.creditCode {
        try await enrol(tx, child: id, creditCode: row.creditCode, start: start)
        changed = true
      }
    }
    return changed ? .changed : .unchanged
  }

  // MARK: Helpers

  func checkID(_ id: String, field: String) throws(Refusal) {
    let now = today()
    if let problem = ResidentID.problem(id, today: (now.year, now.month, now.day)) {
      // Never quote the number.
      throw Refusal.invalid(field, rule: "id-number.valid", "not a resident ID number: \(problem)")
    }
  }

  /// A short keyed tag of an ID number (never the number), for audit rows and idempotency digests.
  func tag(_ id: String) -> String { vault.tag(id) }

  static func hex(_ bytes: some Sequence<UInt8>) -> String { PersonalDataVault.hex(bytes) }

  func childID(_ tx: PostgresSession, _ idNumber: String, lock: Bool) async throws -> Int64? {
    let hashes = vault.lookupHashes(idNumber).map { Self.hex($0.hash) }
    let first = hashes[0]
    let second = hashes.count > 1 ? hashes[1] : first
    let rows =
      lock
      ? try await tx.query("SELECT child_id FROM child WHERE id_hash IN (\(first), \(second)) FOR UPDATE")
      : try await tx.query("SELECT child_id FROM child WHERE id_hash IN (\(first), \(second))")
    return try rows.first?.decode(Int64.self, at: 0)
  }

  func insertChild(
    _ tx: PostgresSession, idNumber: String, localHukou: Bool, county: String, hardship: Bool, by: String
  ) async throws -> Int64? {
    let stored = try vault.protect(idNumber)
    let b = ResidentID.birthDate(idNumber)!
    let birth = LocalDate(year: b.year, month: b.month, day: b.day)!
    let rows = try await tx.query(
      """
      INSERT INTO child (id_key, id_hash, sealed, masked, birth_date, local_hukou, county_code, hardship, registered_by)
      VALUES (\(stored.keyID), \(Self.hex(stored.hash)), \(PostgresBytes(stored.sealed)),
        \(PersonalDataVault.mask(idNumber)), \(birth), \(localHukou), \(county), \(hardship), \(by))
      ON CONFLICT (id_hash) DO NOTHING RETURNING child_id
      """)
    return try rows.first?.decode(Int64.self, at: 0)
  }

  /// Enrols at an institution the registry knows, ending nothing: an open enrolment elsewhere is refused.
  func enrol(_ tx: PostgresSession, child: Int64, creditCode: String, start: LocalDate) async throws {
    guard try await RegistryView.institution(tx, creditCode) != nil else {
      throw Refusal(.notFound, rule: "institution.known", field: "credit_code", "the registry has no such institution")
    }
    let open = try await tx.query("SELECT credit_code FROM enrolment WHERE child_id = \(child) AND end_on IS NULL")
    guard open.isEmpty else {
      throw Refusal.precondition(
        "enrolment.one-open", "the child is enrolled elsewhere: end that enrolment first", field: "child_id")
    }
    try await tx.query(
      "INSERT INTO enrolment (child_id, credit_code, start_on) VALUES (\(child), \(creditCode), \(start))")
  }

  /// A child as the API shows it (ID masked), when visible to the caller.
  func child(
    _ db: PostgresSession, _ id: Int64, _ context: ServerContext, lock: Bool = false
  ) async throws -> Tuoyu_Subsidy_V1_Child? {
    // Read and, when asked, locked in the one statement.
    let rows = try await db.query(
      PostgresQuery(
        unsafeSQL: """
          SELECT c.child_id, c.masked, c.birth_date, c.local_hukou, c.county_code, c.hardship,
            coalesce(e.enrolment_id, 0), coalesce(e.credit_code, '')
          FROM child c LEFT JOIN enrolment e ON e.child_id = c.child_id AND e.end_on IS NULL
          WHERE c.child_id = $1 \(lock ? "FOR UPDATE OF c" : "")
          """, binds: [.init(id)]))
    guard let r = rows.first else { return nil }
    let (childID, masked, birth, local, county, hardship, enrolment, credit) = try r.decode(
      (Int64, String, LocalDate, Bool, String, Bool, Int64, String).self)
    do { try require(county: county, context, field: "child_id") } catch { return nil }
    return .with {
      $0.childID = childID
      $0.idNumber = masked
      $0.birthDate = birth.proto
      $0.localHukou = local
      $0.countyCode = county
      $0.hardship = hardship
      $0.enrolmentID = enrolment
      $0.creditCode = credit
    }
  }
}
