import API
import Postgres
import RPC
import ServiceKit
import WorkforceAPI

extension WorkforceService {
  /// The most rows one import call takes.
  public static let maxImportRows: Int32 = 20_000

  /// Staff and certificates per row, not all-or-nothing (`Mutation.eachRow`): each row registers
  /// the person (or matches them by ID number), hires them when it names an institution, and
  /// records the certificate when it names one — all of it or none of it for the row, each row
  /// audited (without its ID number).
  public func importStaff(
    requests: RequestStream<Tuoyu_Workforce_V1_StaffImportRow>, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_ImportStaffResponse {
    let scope = try Scope.of(context)
    var response = Tuoyu_Workforce_V1_ImportStaffResponse()
    let (received, imported, unchanged) = try await Mutation.eachRow(
      pool, context: context, rows: requests, maxRows: Int(Self.maxImportRows),
      validateOnly: { first in
        response.validateOnly = first.validateOnly
        return first.validateOnly
      },
      target: { "people/\(tag($0.idNumber))" }, requestID: { "import:row:\($0.row)" },
      auditedAs: { row in
        var r = row
        r.idNumber = tag(row.idNumber)
        return r
      },
      { row, tx in try await importRow(row, scope: scope, tx) },
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
            $0.message =
              "an import takes at most \(Self.maxImportRows) rows; send the rest, from this row on, in another call"
            $0.rule = "import.max-rows"
          })
      })
    response.received = Int32(clamping: received)
    response.imported = Int32(clamping: imported)
    response.unchanged = Int32(clamping: unchanged)
    return response
  }

  func importRow(
    _ row: Tuoyu_Workforce_V1_StaffImportRow, scope: Scope, _ tx: PostgresSession
  ) async throws
    -> Mutation.RowEffect
  {
    let now = today()
    var problems: [Refusal] = []
    if let refusal = Identity.refusal(row.idNumber, today: now) { problems.append(refusal) }
    if row.displayName.trimmingCharacters(in: .whitespaces).isEmpty {
      problems.append(.invalid("display_name", rule: "person.name", "a name is required"))
    }
    if !row.creditCode.isEmpty && row.role == .unspecified {
      problems.append(.invalid("role", rule: "import.role", "a row that names an institution names the role"))
    }
    var start = now
    if row.startDate != Tuoyu_Common_V1_Date() {
      if let d = LocalDate(row.startDate) {
        start = d
      } else {
        problems.append(.invalid("start_date", rule: "date.valid", "the start date is not a date"))
      }
    }
    var certificateDates: (LocalDate, LocalDate?)?
    if row.certificateKind != .unspecified {
      do { certificateDates = try Self.documentDates(row.certificate, today: now, field: "certificate") } catch let r
        as Refusals
      {
        problems += r.all
      }
    }
    try Refusals.check(problems)
    var changed = false
    let id: Int64
    if let found = try await WorkforceStore.personID(tx, hashes: hashes(row.idNumber), lock: true) {
      guard try await WorkforceStore.visible(tx, person: found, scope, on: now) else {
        throw Refusal(.notFound, rule: "person.known", field: "id_number", "no such person within your reach")
      }
      let existing = try await WorkforceStore.personRow(tx, found)
      guard existing.name == row.displayName else {
        throw Refusal.precondition(
          "import.same-person", "this ID number is registered under another name", field: "display_name")
      }
      id = found
    } else {
      let stored = try vault.protect(row.idNumber)
      var register = Tuoyu_Workforce_V1_RegisterPersonRequest()
      register.displayName = row.displayName
      register.phone = row.phone
      register.education = row.education
      register.relatedExperienceYears = row.relatedExperienceYears
      guard
        let new = try await WorkforceStore.insertPerson(
          tx, stored: stored, hash: Self.hex(stored.hash),
          masked: PersonalDataVault.mask(row.idNumber), birth: Identity.birthDate(row.idNumber)!, register)
      else {
        throw Refusal(.alreadyExists, rule: "person.unique-id-number", field: "id_number", "registered meanwhile")
      }
      try Outbox.queue(
        tx, eventType: "person.registered", subject: "people/\(new)",
        event: Tuoyu_Workforce_V1_EmploymentEvent.with { $0.personID = new })
      id = new
      changed = true
    }
    if !row.creditCode.isEmpty {
      let (_, same) = try await hire(
        tx, .with { $0.personID = id }, creditCode: row.creditCode, role: row.role, start: start, scope: scope,
        personField: "id_number")
      changed = changed || !same
    }
    if let (issued, expires) = certificateDates {
      let (_, same) = try await addCertificate(
        tx, person: id, kind: row.certificateKind, row.certificate, issued, expires)
      changed = changed || !same
    }
    return changed ? .changed : .unchanged
  }
}
