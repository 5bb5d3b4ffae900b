import API
import Foundation
import Postgres
import RPC
import ServiceKit
import ServiceKitTesting
import Testing

@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"))
struct AuditTrailTests {
  @Test func pagesNewestFirstFiltersAndRefusesBadPaging() async throws {
    let (_, pool) = try await TestDB.schema("aud")
    let context = ServerContext(
      descriptor: MutationTests.method, requestMetadata: Metadata(), deadline: nil, peer: "test")
    context.values[Principal.contextKey] = Principal(subject: "officer-1", department: "health", roles: [])
    for n in 1...3 {
      _ = try await Mutation.run(
        pool, context: context, requestID: "r\(n)", request: Req.with { $0.afterCursor = Int64(n) },
        target: "things/\(n)"
      ) { _ in Resp() }
    }
    await #expect(throws: RPCError.self) {
      _ = try await Mutation.run(
        pool, context: context, requestID: "r1", request: Req.with { $0.afterCursor = 9 },
        target: "things/1"
      ) { _ in Resp() }
    }
    let trail = AuditTrailService(pool: pool)
    let first = try await trail.listAuditEntries(request: .with { $0.pageSize = 3 }, context: context)
    #expect(first.entries.map(\.target) == ["things/1", "things/3", "things/2"])
    #expect(first.entries[0].outcome.hasPrefix("FAILED_PRECONDITION"))
    #expect(first.entries[1].principal == "officer-1" && first.entries[1].outcome == "OK")
    let second = try await trail.listAuditEntries(
      request: .with {
        $0.pageSize = 3; $0.pageToken = first.nextPageToken
      }, context: context)
    #expect(second.entries.map(\.target) == ["things/1"])
    #expect(second.nextPageToken.isEmpty)
    let filtered = try await trail.listAuditEntries(request: .with { $0.target = "things/1" }, context: context)
    #expect(filtered.entries.count == 2)
    for bad in [Tuoyu_Audit_V1_ListAuditEntriesRequest.with { $0.pageSize = 501 }, .with { $0.pageToken = "x" }] {
      do {
        _ = try await trail.listAuditEntries(request: bad, context: context)
        Issue.record("bad paging accepted")
      } catch {
        #expect(RPCError.status(of: error)?.code == .invalidArgument)
      }
    }
    await pool.close()
  }
}
