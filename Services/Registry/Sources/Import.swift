import API
import Postgres
import RPC
import RegistryAPI
import ServiceKit

extension RegistryService {
  /// The most rows one import call takes.
  public static let maxImportRows: Int32 = 20_000
  /// An import of at least this many rows refreshes the planner's statistics when it ends.
  public static let analyzeAfterRows = 500

  /// Per row, not all-or-nothing (`Mutation.eachRow`): each row is registered (and, with a
  /// filing number, filed as a backfill checked like any filing) in its own transaction with its
  /// audit row, or reported with its status and rule (and its refusal audited).
  public func importInstitutions(
    requests: RequestStream<Tuoyu_Registry_V1_ImportRow>, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ImportInstitutionsResponse {
    var response = Tuoyu_Registry_V1_ImportInstitutionsResponse()
    let caller = Principal.caller(context)
    let (received, imported, unchanged) = try await Mutation.eachRow(
      pool, context: context, rows: requests, maxRows: Int(Self.maxImportRows),
      validateOnly: { first in
        response.validateOnly = first.validateOnly
        return first.validateOnly
      },
      target: { "institutions/\($0.creditCode)" }, requestID: { "import:row:\($0.row)" },
      { row, tx in try await importRow(row, caller: caller, tx) },
      report: { row, outcome in
        guard let error = outcome.error else { return }
        response.failures.append(
          .with {
            $0.row = row.row
            $0.creditCode = row.creditCode
            $0.code = error.code.description
            $0.message = error.message
            $0.rule = outcome.rule
          })
      },
      stopped: { row in
        // One call's response stays small: past the limit the import stops and says from where
        // to go on.
        response.failures.append(
          .with {
            $0.row = row.row
            $0.code = Status.Code.resourceExhausted.description
            $0.message =
              "an import takes at most \(Self.maxImportRows) rows; send the rest, from this row on, in another call"
            $0.rule = "import.max-rows"
          })
      })
    response.received = Int32(clamping: received)
    response.imported = Int32(clamping: imported)
    response.unchanged = Int32(clamping: unchanged)
    if imported >= Self.analyzeAfterRows && !response.validateOnly {
      // A large import changes the tables' statistics; until autovacuum gets to them the planner
      // keeps its old picture (a freshly loaded registry listed at a sixteenth of its speed).
      try? await pool.withConnection { try await $0.execute("ANALYZE institution, institution_version") }
    }
    return response
  }

  /// Registers (and files) one row in the row's transaction; a row that says what is registered
  /// already changes nothing.
  func importRow(
    _ row: Tuoyu_Registry_V1_ImportRow, caller: Principal, _ tx: PostgresSession
  ) async throws
    -> Mutation.RowEffect
  {
    let day = try effectiveDate(row.effectiveDate)
    let problems = Registration.check(
      creditCode: row.creditCode, name: row.displayName, nature: row.legalNature, authority: row.registrationAuthority)
    // One round trip for the checks, one for the writes (queued, sent when the row ends).
    let filed = !row.filingNumber.isEmpty
    let (ctx, codeTaken, numberTaken) = try await RegistryStore.importContext(
      tx, township: row.facts.townshipCode, date: day, rules: rules, creditCode: row.creditCode,
      filingNumber: row.filingNumber, warningsFor: row.creditCode)
    try Refusals.check(problems + (filed ? FilingRules.facts(row.facts, ctx) : FilingRules.location(row.facts, ctx)))
    if codeTaken,
      try await Self.isAsImported(row, try await RegistryStore.current(tx, row.creditCode, forUpdate: false))
    {
      return .unchanged
    }
    if codeTaken {
      throw Refusal(
        .alreadyExists, rule: "institution.unique-credit-code", field: "credit_code",
        "an institution with credit code \(row.creditCode) is already registered")
    }
    if numberTaken {
      throw Refusal(
        .alreadyExists, rule: "filing.unique-number", field: "filing_number",
        "filing number \(quoted(row.filingNumber)) is already used")
    }
    var first = Registration.firstVersion(
      creditCode: row.creditCode, name: row.displayName, nature: row.legalNature,
      authority: row.registrationAuthority, facts: row.facts, county: ctx.county, day: day)
    first.warnings = Registration.regionWarnings(
      creditCode: row.creditCode, authority: row.registrationAuthority, township: row.facts.townshipCode, ctx)
    let registered = try await RegistryStore.append(tx, first, event: .register, by: caller, after: nil, knownNew: true)
    if filed {
      var inst = registered
      inst.status = .filed
      inst.filingNumber = row.filingNumber
      _ = try await RegistryStore.append(tx, inst, event: .file, by: caller, after: registered)
    }
    return .changed
  }

  /// Whether `current` is already what `row` would register: the same name, legal nature,
  /// authority and facts, and — when the row gives a filing number — that number (whatever
  /// happened since: an export of a suspended institution, imported again, changes nothing).
  static func isAsImported(_ row: Tuoyu_Registry_V1_ImportRow, _ current: Institution) -> Bool {
    var facts = row.facts
    facts.seats.total = current.facts.seats.total
    return current.displayName == row.displayName && current.legalNature == row.legalNature
      && current.registrationAuthority == row.registrationAuthority && current.facts == facts
      && FilingRules.totalSeats(row.facts.seats) == Int(current.facts.seats.total)
      && (row.filingNumber.isEmpty || current.filingNumber == row.filingNumber)
  }
}
