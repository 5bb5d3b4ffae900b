import API
import Postgres
import RPC
import ServiceKit
import WorkforceAPI

extension WorkforceService {
  /// Records a certificate of a person (育婴员, 保育员, 保健员, teacher qualification, health
  /// certificate): number, issuer and issue date required, the dates sensible. The same
  /// certificate (kind and number) recorded again changes nothing.
  public func addCertificate(
    request: Tuoyu_Workforce_V1_AddCertificateRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_Certificate {
    let scope = try Scope.of(context)
    let (issued, expires) = try Self.documentDates(request.document, today: today())
    var audited = request
    audited.person = redacted(request.person)
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: audited, target: "certificates"
    ) { tx in
      let id = try await person(tx, request.person, scope)
      return try await addCertificate(tx, person: id, kind: request.kind, request.document, issued, expires).0
    }
  }

  func addCertificate(
    _ tx: PostgresSession, person id: Int64, kind: Tuoyu_Workforce_V1_CertificateKind,
    _ d: Tuoyu_Common_V1_Document, _ issued: LocalDate, _ expires: LocalDate?
  ) async throws -> (Tuoyu_Workforce_V1_Certificate, unchanged: Bool) {
    if let cert = try await WorkforceStore.insertCertificate(
      tx, person: id, kind: Int32(kind.rawValue), number: d.number, issuer: d.issuer, issued: issued, expires: expires)
    {
      try Outbox.queue(
        tx, eventType: "certificate.added", subject: "people/\(id)",
        event: Tuoyu_Workforce_V1_EmploymentEvent.with { $0.personID = id })
      return (cert, false)
    }
    let existing = try await WorkforceStore.certificate(tx, person: id, kind: Int32(kind.rawValue), number: d.number)!
    guard existing.document.issuer == d.issuer, LocalDate(existing.document.issued) == issued,
      LocalDate(existing.document.expires) == expires
    else {
      throw Refusal(
        .alreadyExists, rule: "certificate.unique-number", field: "document.number",
        "this person already has a certificate of this kind numbered \(quoted(d.number)) with other details")
    }
    return (existing, true)
  }

  /// The issue and expiry dates of a certificate: complete, issued by today, expiring after issue.
  static func documentDates(
    _ d: Tuoyu_Common_V1_Document, today: LocalDate, field: String = "document"
  ) throws
    -> (LocalDate, LocalDate?)
  {
    var problems: [Refusal] = []
    if d.number.trimmingCharacters(in: .whitespaces).isEmpty {
      problems.append(.invalid("\(field).number", rule: "certificate.complete", "the certificate's number is required"))
    }
    if d.issuer.trimmingCharacters(in: .whitespaces).isEmpty {
      problems.append(.invalid("\(field).issuer", rule: "certificate.complete", "the issuer is required"))
    }
    let issued = LocalDate(d.issued)
    if issued == nil {
      problems.append(.invalid("\(field).issued", rule: "certificate.dates", "a valid issue date is required"))
    }
    var expires: LocalDate?
    if d.expires != Tuoyu_Common_V1_Date() {
      expires = LocalDate(d.expires)
      if expires == nil {
        problems.append(.invalid("\(field).expires", rule: "certificate.dates", "the expiry is not a date"))
      }
    }
    if let issued, issued > today {
      problems.append(.invalid("\(field).issued", rule: "certificate.dates", "issued \(issued), in the future"))
    }
    if let issued, let expires, expires < issued {
      problems.append(
        .invalid("\(field).expires", rule: "certificate.dates", "expires \(expires), before it was issued (\(issued))"))
    }
    try Refusals.check(problems)
    return (issued!, expires)
  }

  /// Records an annual health check (valid 12 months).
  public func recordHealthCheck(
    request: Tuoyu_Workforce_V1_RecordHealthCheckRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_HealthCheck {
    let scope = try Scope.of(context)
    guard let on = LocalDate(request.checkedOn) else {
      throw Refusal.invalid("checked_on", rule: "health-check.date", "a valid date of the check is required")
    }
    guard on <= today() else {
      throw Refusal.invalid("checked_on", rule: "health-check.date", "\(on) is in the future")
    }
    var audited = request
    audited.person = redacted(request.person)
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: audited, target: "health-checks"
    ) { tx in
      let id = try await person(tx, request.person, scope)
      guard
        let check = try await WorkforceStore.insertHealthCheck(
          tx, person: id, on: on, until: Staffing.healthCheckValidUntil(on), passed: request.passed,
          examiner: request.examiner)
      else {
        throw Refusal(
          .alreadyExists, rule: "health-check.once-a-day", field: "checked_on",
          "a health check of this person on \(on) is already recorded")
      }
      return check
    }
  }
}
