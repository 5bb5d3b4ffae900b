import API
import InspectionAPI
import Postgres
import ServiceKit

/// All of the inspection service's SQL.
enum InspectionStore {
  typealias Inspection = Tuoyu_Inspection_V1_Inspection

  // MARK: Checklists

  static func checklist(_ db: PostgresSession, version: Int32) async throws -> Tuoyu_Inspection_V1_Checklist? {
    let head =
      version == 0
      ? try await db.query("SELECT version, title, published_by FROM checklist ORDER BY version DESC LIMIT 1")
      : try await db.query("SELECT version, title, published_by FROM checklist WHERE version = \(version)")
    guard let row = head.first else { return nil }
    let (v, title, by) = try row.decode((Int32, String, String).self)
    let items = try await db.query(
      "SELECT code, category, text, severity FROM checklist_item WHERE version = \(v) ORDER BY category, code"
    ).map { row in
      let (code, category, text, severity) = try row.decode((String, Int32, String, Int32).self)
      return Tuoyu_Inspection_V1_ChecklistItem.with {
        $0.code = code
        $0.category = .init(rawValue: Int(category)) ?? .unspecified
        $0.text = text
        $0.severity = .init(rawValue: Int(severity)) ?? .unspecified
      }
    }
    return .with {
      $0.version = v
      $0.title = title
      $0.publishedBy = by
      $0.items = items
    }
  }

  static func publish(
    _ tx: PostgresSession, title: String, items: [Tuoyu_Inspection_V1_ChecklistItem], by: String
  )
    async throws -> Int32
  {
    // The table's lock orders concurrent publications: each gets the next version.
    try await tx.query("LOCK TABLE checklist IN EXCLUSIVE MODE")
    let version = try await tx.query("SELECT coalesce(max(version), 0) + 1 FROM checklist")[0].decode(Int32.self, at: 0)
    try await tx.query("INSERT INTO checklist (version, title, published_by) VALUES (\(version), \(title), \(by))")
    for item in items {
      tx.queue(
        """
        INSERT INTO checklist_item (version, code, category, text, severity)
        VALUES (\(version), \(item.code), \(Int32(item.category.rawValue)), \(item.text), \(Int32(item.severity.rawValue)))
        """)
    }
    return version
  }

  // MARK: Inspections

  static let inspectionSelect = """
    SELECT inspection_id, credit_code, institution_name, county_code, level, kind, inspected_on, inspectors,
      co_departments, checklist_version, finalised, recorded_by, minor_failures, major_failures, critical_failures,
      coalesce(corrects, 0)
    FROM inspection
    """

  static func inspection(from row: PostgresRow) throws -> Inspection {
    let (id, code, name, county, level, kind, on, inspectors) = try row.decode(
      (Int64, String, String, String, Int32, Int32, LocalDate, [String]).self)
    let (departments, version, finalised, by, minor, major, critical, corrects) = try (
      row.decode([Int32].self, at: 8), row.decode(Int32.self, at: 9), row.decode(Bool.self, at: 10),
      row.decode(String.self, at: 11), row.decode(Int32.self, at: 12), row.decode(Int32.self, at: 13),
      row.decode(Int32.self, at: 14), row.decode(Int64.self, at: 15)
    )
    return .with {
      $0.inspectionID = id
      $0.creditCode = code
      $0.institutionName = name
      $0.countyCode = county
      $0.level = .init(rawValue: Int(level)) ?? .unspecified
      $0.kind = .init(rawValue: Int(kind)) ?? .unspecified
      $0.inspectedOn = on.proto
      $0.inspectors = inspectors
      $0.coDepartments = departments.map { .init(rawValue: Int($0)) ?? .unspecified }
      $0.checklistVersion = version
      $0.finalised = finalised
      $0.recordedBy = by
      $0.minorFailures = minor
      $0.majorFailures = major
      $0.criticalFailures = critical
      $0.correctsInspectionID = corrects
    }
  }

  /// An inspection with its results.
  static func inspection(_ db: PostgresSession, _ id: Int64, lock: Bool = false) async throws -> Inspection? {
    let rows = try await db.query(
      PostgresQuery(
        unsafeSQL: inspectionSelect + " WHERE inspection_id = $1" + (lock ? " FOR UPDATE" : ""), binds: [.init(id)]))
    guard var inspection = try rows.first.map(inspection(from:)) else { return nil }
    inspection.results = try await db.query(
      "SELECT code, outcome, note, severity FROM inspection_result WHERE inspection_id = \(id) ORDER BY code"
    ).map { row in
      let (code, outcome, note, severity) = try row.decode((String, Int32, String, Int32).self)
      return .with {
        $0.code = code
        $0.outcome = .init(rawValue: Int(outcome)) ?? .unspecified
        $0.note = note
        $0.severity = .init(rawValue: Int(severity)) ?? .unspecified
      }
    }
    return inspection
  }

  static func insertInspection(
    _ tx: PostgresSession, _ r: Tuoyu_Inspection_V1_RecordInspectionRequest, name: String, county: String,
    on: LocalDate, version: Int32, by: String
  ) async throws -> Int64 {
    let corrects: Int64? = r.correctsInspectionID == 0 ? nil : r.correctsInspectionID
    return try await tx.query(
      """
      INSERT INTO inspection (credit_code, institution_name, county_code, level, kind, inspected_on, inspectors,
        co_departments, checklist_version, recorded_by, corrects)
      VALUES (\(r.creditCode), \(name), \(county), \(Int32(r.level.rawValue)), \(Int32(r.kind.rawValue)), \(on),
        \(r.inspectors), \(r.coDepartments.map { Int32($0.rawValue) }), \(version), \(by), \(corrects))
      RETURNING inspection_id
      """)[0].decode(Int64.self, at: 0)
  }

  /// Writes results (replacing earlier ones of the same items): one statement for all of them,
  /// queued with the transaction's next.
  static func putResults(_ tx: PostgresSession, _ id: Int64, _ results: [Tuoyu_Inspection_V1_ItemResult]) {
    guard !results.isEmpty else { return }
    tx.queue(
      """
      INSERT INTO inspection_result (inspection_id, code, outcome, note, severity)
      SELECT \(id), r.code, r.outcome, r.note, r.severity
      FROM unnest(\(results.map(\.code)), \(results.map { Int32($0.outcome.rawValue) }), \(results.map(\.note)),
        \(results.map { Int32($0.severity.rawValue) })) AS r(code, outcome, note, severity)
      ON CONFLICT (inspection_id, code) DO UPDATE SET outcome = EXCLUDED.outcome, note = EXCLUDED.note,
        severity = EXCLUDED.severity
      """)
  }

  static func finalise(_ tx: PostgresSession, _ id: Int64, minor: Int32, major: Int32, critical: Int32) async throws {
    try await tx.query(
      """
      UPDATE inspection SET finalised = true, finalised_at = now(), minor_failures = \(minor),
        major_failures = \(major), critical_failures = \(critical)
      WHERE inspection_id = \(id)
      """)
  }

  static func inspections(
    _ db: PostgresSession, creditCode: String, counties: ClosedRange<String>?, year: Int32, after: Int64, limit: Int
  ) async throws -> [Inspection] {
    try await db.query(
      PostgresQuery(
        unsafeSQL: inspectionSelect + """
           WHERE ($1 = '' OR credit_code = $1) AND ($2 = '' OR county_code BETWEEN $2 AND $3)
            AND ($4 = 0 OR extract(year FROM inspected_on) = $4) AND inspection_id > $5
          ORDER BY inspection_id LIMIT $6
          """,
        binds: [
          .init(creditCode), .init(counties?.lowerBound ?? ""), .init(counties?.upperBound ?? ""), .init(year),
          .init(after), .init(Int64(limit)),
        ])
    ).map(inspection(from:))
  }

  // MARK: Rules

  static func deadlineRules(_ db: PostgresSession) async throws -> [DeadlineRules] {
    try await db.query("SELECT effective_from, critical_days, major_days, minor_days FROM deadline_rule").map {
      let (from, c, m, n) = try $0.decode((LocalDate, Int32, Int32, Int32).self)
      return DeadlineRules(days: [.critical: Int(c), .major: Int(m), .minor: Int(n)], effectiveFrom: from)
    }
  }

  static func creditRules(_ db: PostgresSession) async throws -> CreditRules {
    let row = try await db.query(
      """
      SELECT version, minor_points, major_points, critical_points, overdue_points, a_from, b_from, c_from, critical_cap
      FROM credit_rule ORDER BY version DESC LIMIT 1
      """)[0]
    let (v, minor, major, critical, overdue, a, b, c, cap) = try row.decode(
      (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, String).self)
    return CreditRules(
      perFailure: [.minor: Int(minor), .major: Int(major), .critical: Int(critical)], perOverdueOrder: Int(overdue),
      bands: [("A", Int(a)), ("B", Int(b)), ("C", Int(c)), ("D", 0)], criticalCap: cap, version: Int(v))
  }

  // MARK: Orders

  static func insertOrder(
    _ tx: PostgresSession, inspection: Inspection, item: String, severity: Int32, deadline: LocalDate
  ) {
    tx.queue(
      """
      INSERT INTO rectification_order (inspection_id, credit_code, county_code, item_code, severity, deadline)
      VALUES (\(inspection.inspectionID), \(inspection.creditCode), \(inspection.countyCode), \(item), \(severity),
        \(deadline))
      """)
  }

  struct OrderRow: Sendable {
    var order: Tuoyu_Inspection_V1_Order
    var status: OrderStatus
    var deadline: LocalDate
    var reportedOn: LocalDate?
  }

  static let orderSelect = """
    SELECT order_id, inspection_id, credit_code, county_code, item_code, severity, deadline, status, reported_on,
      verified_on, note
    FROM rectification_order
    """

  static func order(from row: PostgresRow) throws -> OrderRow {
    let (id, inspection, code, county, item, severity, deadline, status) = try row.decode(
      (Int64, Int64, String, String, String, Int32, LocalDate, String).self)
    let (reported, verified, note) = try (
      row.decode(LocalDate?.self, at: 8), row.decode(LocalDate?.self, at: 9), row.decode(String.self, at: 10)
    )
    let s = OrderStatus(rawValue: status) ?? .open
    return OrderRow(
      order: .with {
        $0.orderID = id
        $0.inspectionID = inspection
        $0.creditCode = code
        $0.countyCode = county
        $0.itemCode = item
        $0.severity = .init(rawValue: Int(severity)) ?? .unspecified
        $0.deadline = deadline.proto
        $0.status =
          switch s {
          case .open: .open
          case .rectified: .rectified
          case .verified: .verified
          }
        if let reported { $0.reportedOn = reported.proto }
        if let verified { $0.verifiedOn = verified.proto }
        $0.note = note
      }, status: s, deadline: deadline, reportedOn: reported)
  }

  static func order(_ db: PostgresSession, _ id: Int64, lock: Bool) async throws -> OrderRow? {
    try await db.query(
      PostgresQuery(unsafeSQL: orderSelect + " WHERE order_id = $1" + (lock ? " FOR UPDATE" : ""), binds: [.init(id)])
    ).first.map(order(from:))
  }

  static func orders(
    _ db: PostgresSession, creditCode: String, counties: ClosedRange<String>?, includeVerified: Bool
  )
    async throws -> [OrderRow]
  {
    try await db.query(
      PostgresQuery(
        unsafeSQL: orderSelect + """
           WHERE ($1 = '' OR credit_code = $1) AND ($2 = '' OR county_code BETWEEN $2 AND $3)
            AND ($4 OR status <> 'verified')
          ORDER BY order_id LIMIT 5000
          """,
        binds: [
          .init(creditCode), .init(counties?.lowerBound ?? ""), .init(counties?.upperBound ?? ""),
          .init(includeVerified),
        ])
    ).map(order(from:))
  }

  static func step(
    _ tx: PostgresSession, _ id: Int64, to status: OrderStatus, on day: LocalDate, note: String
  )
    async throws
  {
    switch status {
    case .rectified:
      try await tx.query(
        "UPDATE rectification_order SET status = 'rectified', reported_on = \(day), note = \(note) WHERE order_id = \(id)"
      )
    case .verified:
      try await tx.query(
        "UPDATE rectification_order SET status = 'verified', verified_on = \(day), note = \(note) WHERE order_id = \(id)"
      )
    case .open:
      try await tx.query(
        "UPDATE rectification_order SET status = 'open', reported_on = NULL, note = \(note) WHERE order_id = \(id)")
    }
  }

  // MARK: Grades

  /// Per institution of the list: failures by severity in finalised inspections from `from` to
  /// `through`, and the orders (with what overdue needs) not verified by then.
  static func gradeInputs(
    _ db: PostgresSession, codes: [String], from: LocalDate, through: LocalDate
  ) async throws
    -> (failures: [String: [Severity]], orders: [String: [OrderRow]])
  {
    var failures: [String: [Severity]] = [:]
    for row in try await db.query(
      """
      SELECT i.credit_code, r.severity FROM inspection i JOIN inspection_result r USING (inspection_id)
      WHERE i.credit_code = ANY(\(codes)) AND i.finalised AND r.outcome = 2
        AND i.inspected_on BETWEEN \(from) AND \(through)
      """)
    {
      let (code, severity) = try row.decode((String, Int32).self)
      if let s = InspectionService.severity(.init(rawValue: Int(severity)) ?? .unspecified) {
        failures[code, default: []].append(s)
      }
    }
    var orders: [String: [OrderRow]] = [:]
    for row in try await db.query(
      PostgresQuery(
        unsafeSQL: orderSelect + " WHERE credit_code = ANY($1) AND status <> 'verified' AND deadline < $2",
        binds: [.init(codes), .init(through)]))
    {
      let o = try order(from: row)
      orders[o.order.creditCode, default: []].append(o)
    }
    return (failures, orders)
  }

  // MARK: Acceptances

  static let acceptanceSelect = """
    SELECT acceptance_id, year, credit_code, institution_name, county_code, accepted_seats,
      coalesce(confirmed_seats, 0), status, adjustment_reason, inspection_id, accepted_by, coalesce(confirmed_by, '')
    FROM acceptance
    """

  static func acceptance(from row: PostgresRow) throws -> Tuoyu_Inspection_V1_Acceptance {
    let (id, year, code, name, county, accepted, confirmed, status) = try row.decode(
      (Int64, Int32, String, String, String, Int32, Int32, String).self)
    let (reason, inspection, by, confirmer) = try (
      row.decode(String.self, at: 8), row.decode(Int64.self, at: 9), row.decode(String.self, at: 10),
      row.decode(String.self, at: 11)
    )
    return .with {
      $0.acceptanceID = id
      $0.year = year
      $0.creditCode = code
      $0.institutionName = name
      $0.countyCode = county
      $0.acceptedSeats = accepted
      $0.confirmedSeats = confirmed
      $0.status = status == "city-confirmed" ? .cityConfirmed : .countyAccepted
      $0.adjustmentReason = reason
      $0.inspectionID = inspection
      $0.acceptedBy = by
      $0.confirmedBy = confirmer
    }
  }

  static func acceptance(_ db: PostgresSession, _ id: Int64, lock: Bool) async throws -> Tuoyu_Inspection_V1_Acceptance?
  {
    try await db.query(
      PostgresQuery(
        unsafeSQL: acceptanceSelect + " WHERE acceptance_id = $1" + (lock ? " FOR UPDATE" : ""), binds: [.init(id)])
    ).first.map(acceptance(from:))
  }

  /// Seats of an institution accepted before, in any year: confirmed where the city confirmed,
  /// else as the county accepted them. Locks them (a seat is accepted at most once).
  static func seatsAccepted(_ tx: PostgresSession, creditCode: String) async throws -> Int {
    // Concurrent acceptances of one institution wait for each other (also the first of them).
    try await tx.query("SELECT pg_advisory_xact_lock(hashtext('acceptance:' || \(creditCode)))")
    let rows = try await tx.query(
      """
      SELECT CASE WHEN status = 'city-confirmed' THEN confirmed_seats ELSE accepted_seats END
      FROM acceptance WHERE credit_code = \(creditCode) FOR UPDATE
      """)
    return try rows.reduce(0) { $0 + Int(try $1.decode(Int32.self, at: 0)) }
  }

  static func acceptances(
    _ db: PostgresSession, year: Int32, counties: ClosedRange<String>?
  ) async throws
    -> [Tuoyu_Inspection_V1_Acceptance]
  {
    try await db.query(
      PostgresQuery(
        unsafeSQL: acceptanceSelect
          + " WHERE year = $1 AND ($2 = '' OR county_code BETWEEN $2 AND $3) ORDER BY county_code, credit_code, acceptance_id",
        binds: [.init(year), .init(counties?.lowerBound ?? ""), .init(counties?.upperBound ?? "")])
    ).map(acceptance(from:))
  }
}
