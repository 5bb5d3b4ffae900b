import API
import Foundation
import Postgres
import RPC
import RegistryAPI
import ServiceKit
import SwiftProtobuf

extension RegistryService {
  /// The most rows one import call takes.
  public static let maxImportRows: Int32 = 20_000

  /// Per row, not all-or-nothing: each row is registered (and, with a filing number, filed as a
  /// backfill checked like any filing) in its own transaction with its audit row, or reported
  /// (and its refusal audited).
  public func importInstitutions(
    requests: RequestStream<Tuoyu_Registry_V1_ImportRow>, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ImportInstitutionsResponse {
    var response = Tuoyu_Registry_V1_ImportInstitutionsResponse()
    let caller = Principal.caller(context)
    let method = context.descriptor.path
    for try await received in requests {
      var row = received
      // One call's response stays small: past the limit the import stops and says from where
      // to go on.
      if response.received >= Self.maxImportRows {
        response.failures.append(
          .with {
            $0.row = row.row
            $0.code = Status.Code.resourceExhausted.description
            $0.message =
              "an import takes at most \(Self.maxImportRows) rows; send the rest, from this row on, in another call"
            $0.rule = "import.max-rows"
          })
        break
      }
      response.received += 1
      let target = "institutions/\(row.creditCode)"
      let requestID = "import:row:\(row.row)"
      let bytes = PostgresBytes(try row.serializedBytes())
      do {
        // The row's declared limits (checked here: a stream's rows are checked one by one, and
        // a row that breaks them is reported like any other refused row).
        let violations = row.limitViolations()
        if !violations.isEmpty { throw LimitViolations(violations) }
        try await importRow(row, caller: caller) { tx in
          try await Mutation.audit(tx, caller, method, target, requestID, request: bytes, outcome: "OK")
        }
        response.imported += 1
      } catch {
        _ = try? await pool.withTransaction { tx in
          try await Mutation.audit(
            tx, caller, method, target, requestID, request: bytes, outcome: Mutation.outcome(of: error))
        }
        let rpc = RPCError.status(of: error) ?? RPCError(code: .internal, message: "\(type(of: error))")
        response.failures.append(
          .with {
            $0.row = row.row
            $0.creditCode = row.creditCode
            $0.code = rpc.code.description
            $0.message = rpc.message
            $0.rule =
              (error as? Refusals)?.rule ?? (error as? Refusal)?.rule
              ?? (error as? LimitViolations)?.violations.first?.rule ?? ""
          })
      }
    }
    return response
  }

  /// Registers (and files) one row in one transaction; `audit` writes the row's audit record
  /// in that transaction.
  func importRow(
    _ row: Tuoyu_Registry_V1_ImportRow, caller: Principal, audit: (PostgresSession) async throws -> Void
  ) async throws {
    let day = try effectiveDate(row.effectiveDate)
    let problems = Registration.check(
      creditCode: row.creditCode, name: row.displayName, nature: row.legalNature, authority: row.registrationAuthority)
    try await pool.withTransaction { tx in
      let ctx = try await RegistryStore.filingContext(tx, township: row.facts.townshipCode, date: day)
      let filed = !row.filingNumber.isEmpty
      try Refusals.check(problems + (filed ? FilingRules.facts(row.facts, ctx) : FilingRules.location(row.facts, ctx)))
      if filed {
        if try await RegistryStore.filingNumberTaken(tx, row.filingNumber) {
          throw Refusal(
            .alreadyExists, rule: "filing.unique-number", field: "filing_number",
            "filing number \(quoted(row.filingNumber)) is already used")
        }
      }
      let registered = try await RegistryStore.append(
        tx,
        Registration.firstVersion(
          creditCode: row.creditCode, name: row.displayName, nature: row.legalNature,
          authority: row.registrationAuthority, facts: row.facts, county: ctx.county, day: day),
        event: .register, by: caller, after: nil)
      if filed {
        var inst = registered
        inst.status = .filed
        inst.filingNumber = row.filingNumber
        _ = try await RegistryStore.append(tx, inst, event: .file, by: caller, after: registered)
      }
      try await audit(tx)
    }
  }
}
