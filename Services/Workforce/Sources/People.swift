import API
import Postgres
import RPC
import ServiceKit
import WorkforceAPI

extension WorkforceService {
  /// Registers a person by resident ID number (checked: GB 11643 check character, a real date of
  /// birth not in the future). The number is kept only as the vault's keyed hash and sealed copy.
  public func registerPerson(
    request: Tuoyu_Workforce_V1_RegisterPersonRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_Person {
    let now = today()
    var problems: [Refusal] = []
    if let refusal = Identity.refusal(request.idNumber, today: now) { problems.append(refusal) }
    if request.displayName.trimmingCharacters(in: .whitespaces).isEmpty {
      problems.append(.invalid("display_name", rule: "person.name", "a name is required"))
    }
    try Refusals.check(problems)
    let scope = try Scope.of(context)
    var audited = request
    audited.idNumber = tag(request.idNumber)
    let stored = try vault.protect(request.idNumber)
    let hash = Self.hex(stored.hash)
    let birth = Identity.birthDate(request.idNumber)!
    let id = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: audited, target: "people"
    ) { tx -> Tuoyu_Workforce_V1_Person in
      // Any key's hash of the number finds a person registered before a key rotation.
      if try await WorkforceStore.personID(tx, hashes: hashes(request.idNumber), lock: false) != nil {
        throw Refusal(
          .alreadyExists, rule: "person.unique-id-number", field: "id_number",
          "a person with this ID number is already registered")
      }
      guard
        let id = try await WorkforceStore.insertPerson(
          tx, stored: stored, hash: hash, masked: PersonalDataVault.mask(request.idNumber), birth: birth, request)
      else {
        throw Refusal(
          .alreadyExists, rule: "person.unique-id-number", field: "id_number",
          "a person with this ID number is already registered")
      }
      try Outbox.queue(
        tx, eventType: "person.registered", subject: "people/\(id)",
        event: Tuoyu_Workforce_V1_EmploymentEvent.with { $0.personID = id })
      return .with { $0.personID = id }
    }.personID
    return try await pool.withConnection { try await person($0, id, context, scope: scope) }
  }

  public func updatePerson(
    request: Tuoyu_Workforce_V1_UpdatePersonRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_Person {
    let fields: Set<String> = ["display_name", "phone", "education", "related_experience_years"]
    guard !request.updateMask.isEmpty else {
      throw Refusal.invalid("update_mask", rule: "update-mask.required", "name the fields to change in update_mask")
    }
    for f in request.updateMask where !fields.contains(f) {
      throw Refusal.invalid(
        "update_mask", rule: "update-mask.known",
        "\(quoted(f)) cannot be changed; one of \(fields.sorted().joined(separator: ", "))")
    }
    if request.updateMask.contains("display_name") && request.displayName.trimmingCharacters(in: .whitespaces).isEmpty {
      throw Refusal.invalid("display_name", rule: "person.name", "a name is required")
    }
    let scope = try Scope.of(context)
    var audited = request
    audited.person = redacted(request.person)
    let id = try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: audited, target: "people"
    ) { tx -> Tuoyu_Workforce_V1_Person in
      let id = try await person(tx, request.person, scope, forUpdate: true)
      let row = try await WorkforceStore.personRow(tx, id)
      let mask = Set(request.updateMask)
      try await WorkforceStore.updatePerson(
        tx, id, name: mask.contains("display_name") ? request.displayName : row.name,
        phone: mask.contains("phone") ? request.phone : row.phone,
        education: mask.contains("education") ? Int32(request.education.rawValue) : row.education,
        experience: mask.contains("related_experience_years") ? request.relatedExperienceYears : row.experience)
      return .with { $0.personID = id }
    }.personID
    return try await pool.withConnection { try await person($0, id, context, scope: scope) }
  }

  public func getPerson(
    request: Tuoyu_Workforce_V1_GetPersonRequest, context: ServerContext
  ) async throws -> Tuoyu_Workforce_V1_Person {
    let scope = try Scope.of(context)
    return try await pool.withConnection { db in
      let id = try await person(db, request.person, scope)
      return try await person(db, id, context, scope: scope)
    }
  }

  /// The whole person as the caller may see it: the ID number unmasked only for the identity
  /// role; an employer sees only its own institution's employments.
  func person(
    _ db: PostgresSession, _ id: Int64, _ context: ServerContext, scope: Scope
  ) async throws -> Tuoyu_Workforce_V1_Person {
    let row = try await WorkforceStore.personRow(db, id)
    let reveal = Principal.caller(context).roles.contains(Self.identityRole)
    let plain = reveal ? try vault.reveal(keyID: row.keyID, sealed: row.sealed.bytes) : nil
    var employments = try await WorkforceStore.employments(db, person: id)
    employments = employments.filter { scope.covers(creditCode: $0.creditCode, county: $0.countyCode) }
    let banned = try await WorkforceStore.banned(db, id)
    let certificates = try await WorkforceStore.certificates(db, person: id)
    let checks = try await WorkforceStore.healthChecks(db, person: id)
    let enrolments = try await WorkforceStore.enrolments(db, person: id)
    return .with {
      $0.name = "people/\(id)"
      $0.personID = id
      $0.displayName = row.name
      $0.idNumber = plain ?? row.masked
      $0.idNumberMasked = plain == nil
      $0.birthDate = row.birth.proto
      $0.phone = row.phone
      $0.education = .init(rawValue: Int(row.education)) ?? .unspecified
      $0.relatedExperienceYears = row.experience
      $0.banned = banned
      $0.employments = employments.map { e in
        var e = e
        e.idNumber = plain ?? row.masked
        return e
      }
      $0.certificates = certificates
      $0.healthChecks = checks
      $0.enrolments = enrolments
    }
  }
}
