import API
import Foundation
import Postgres
import RPC

/// `tuoyu.audit.v1.AuditTrail`: pages through the service's audit log, newest first.
public struct AuditTrailService: Tuoyu_Audit_V1_AuditTrail.ServiceProtocol {
  public let pool: PostgresPool

  public init(pool: PostgresPool) { self.pool = pool }

  public func listAuditEntries(
    request: Tuoyu_Audit_V1_ListAuditEntriesRequest, context: ServerContext
  ) async throws -> Tuoyu_Audit_V1_ListAuditEntriesResponse {
    // The same paging as every list: a size rule, and a token bound to the filters it was issued for.
    let size = try PageToken.size(request.pageSize, default: 100, max: 500)
    let filters = "audit|\(request.target)|\(request.principal)"
    var before = Int64.max
    let after = try PageToken.read(request.pageToken, filters: filters)
    if !after.isEmpty {
      guard let id = Int64(after), id > 0 else {
        throw Refusal.invalid("page_token", rule: "paging.token", "not a page token this service issued")
      }
      before = id
    }
    let target: String? = request.target.isEmpty ? nil : request.target
    let principal: String? = request.principal.isEmpty ? nil : request.principal
    let rows = try await pool.query(
      """
      SELECT id, at, principal, department, method, target, request_id, request_digest, outcome
      FROM audit_log
      WHERE id < \(before) AND (\(target)::text IS NULL OR target = \(target))
        AND (\(principal)::text IS NULL OR principal = \(principal))
      ORDER BY id DESC LIMIT \(size + 1)
      """)
    let formatter = ISO8601DateFormatter()
    var response = Tuoyu_Audit_V1_ListAuditEntriesResponse()
    for row in rows.prefix(size) {
      let (id, at, who, dept, method, target, requestID, digest, outcome) =
        try row.decode((Int64, Date, String, String, String, String, String, String, String).self)
      response.entries.append(
        .with {
          $0.id = id
          $0.at = formatter.string(from: at)
          $0.principal = who
          $0.department = dept
          $0.method = method
          $0.target = target
          $0.requestID = requestID
          $0.requestDigest = digest
          $0.outcome = outcome
        })
    }
    if rows.count > size, let last = response.entries.last {
      response.nextPageToken = PageToken.make(after: String(last.id), filters: filters)
    }
    return response
  }
}
