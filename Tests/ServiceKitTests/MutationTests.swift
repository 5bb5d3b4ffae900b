import API
import Foundation
import Postgres
import RPC
import ServiceKit
import ServiceKitTesting
import SwiftProtobuf
import Testing

/// Requests and responses for the tests: the feed's messages serve as any protobuf message.
typealias Req = Tuoyu_Feed_V1_WatchEventsRequest
typealias Resp = Tuoyu_Feed_V1_Event

@Suite(.enabled(if: TestDB.available, "needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)"))
struct MutationTests {
  static let method = MethodDescriptor(service: "tuoyu.test.v1.Things", method: "CreateThing", kind: .unary)

  func context(_ principal: String = "officer-7") -> ServerContext {
    let c = ServerContext(descriptor: Self.method, requestMetadata: Metadata(), deadline: nil, peer: "test")
    c.values[Principal.contextKey] = Principal(subject: principal, department: "health", roles: [])
    return c
  }

  func create(
    _ pool: PostgresPool, id: String, n: Int64, fail: Bool = false, as principal: String = "officer-7"
  )
    async throws -> Resp
  {
    try await Mutation.run(
      pool, context: context(principal), requestID: id, request: Req.with { $0.afterCursor = n }, target: "things/\(n)"
    ) { tx in
      let cursor = try await Outbox.append(tx, eventType: "thing.created", subject: "things/\(n)")
      try await tx.query("INSERT INTO effects (cursor, subject) VALUES (\(cursor), \("things/\(n)"))")
      if fail { throw RPCError(code: .failedPrecondition, message: "rule R-1 refused it") }
      return Resp.with {
        $0.cursor = cursor
        $0.subject = "things/\(n)"
      }
    }
  }

  func count(_ pool: PostgresPool, _ sql: PostgresQuery) async throws -> Int {
    try await pool.query(sql)[0].decode(Int.self, at: 0)
  }

  @Test func aRetriedRequestActsOnceAndReturnsTheFirstResult() async throws {
    let (_, pool) = try await TestDB.schema("mut")
    let first = try await create(pool, id: "req-1", n: 1)
    let again = try await create(pool, id: "req-1", n: 1)
    #expect(first == again)
    #expect(try await count(pool, "SELECT count(*) FROM effects") == 1)
    #expect(try await count(pool, "SELECT count(*) FROM outbox") == 1)
    let audit = try await pool.query("SELECT principal, department, method, target, outcome FROM audit_log")
    #expect(audit.count == 1)
    let (who, dept, method, target, outcome) = try audit[0].decode((String, String, String, String, String).self)
    #expect(who == "officer-7" && dept == "health" && method == Self.method.path)
    #expect(target == "things/1" && outcome == "OK")
    await pool.close()
  }

  @Test func requestIDsBelongToTheirCaller() async throws {
    let (_, pool) = try await TestDB.schema("mut")
    let mine = try await create(pool, id: "req-x", n: 1)
    // Another officer choosing the same id is a different request: it acts, and does not
    // receive the first officer's result.
    let theirs = try await create(pool, id: "req-x", n: 1, as: "officer-8")
    #expect(mine.cursor != theirs.cursor)
    #expect(try await count(pool, "SELECT count(*) FROM effects") == 2)
    await pool.close()
  }

  @Test func concurrentRetriesActOnce() async throws {
    let (_, pool) = try await TestDB.schema("mut")
    let results = try await withThrowingTaskGroup(of: Resp.self) { group in
      for _ in 0..<5 { group.addTask { try await create(pool, id: "req-c", n: 9) } }
      var all: [Resp] = []
      for try await r in group { all.append(r) }
      return all
    }
    #expect(Set(results.map(\.cursor)).count == 1)
    #expect(try await count(pool, "SELECT count(*) FROM effects") == 1)
    await pool.close()
  }

  @Test func sameIDWithDifferentContentIsRefusedAndChangesNothing() async throws {
    let (_, pool) = try await TestDB.schema("mut")
    _ = try await create(pool, id: "req-2", n: 2)
    do {
      _ = try await create(pool, id: "req-2", n: 3)
      Issue.record("a reused request_id with other content was accepted")
    } catch let e as RPCError {
      #expect(e.code == .failedPrecondition)
      #expect(e.message.contains("idempotency"))
    }
    #expect(try await count(pool, "SELECT count(*) FROM effects") == 1)
    #expect(try await count(pool, "SELECT count(*) FROM audit_log WHERE outcome LIKE 'FAILED_PRECONDITION%'") == 1)
    await pool.close()
  }

  @Test func aRefusedChangeRollsBackWithItsAuditRowAndIsAuditedAsRefused() async throws {
    let (_, pool) = try await TestDB.schema("mut")
    await #expect(throws: RPCError.self) { _ = try await create(pool, id: "req-3", n: 3, fail: true) }
    #expect(try await count(pool, "SELECT count(*) FROM effects") == 0)
    #expect(try await count(pool, "SELECT count(*) FROM outbox") == 0)
    #expect(try await count(pool, "SELECT count(*) FROM idempotency") == 0)
    #expect(try await count(pool, "SELECT count(*) FROM audit_log WHERE outcome = 'OK'") == 0)
    #expect(try await count(pool, "SELECT count(*) FROM audit_log WHERE outcome LIKE '%rule R-1%'") == 1)
    // The refusal was not remembered as a result: once the rule allows it, the same id acts.
    _ = try await create(pool, id: "req-3", n: 3)
    #expect(try await count(pool, "SELECT count(*) FROM effects") == 1)
    await pool.close()
  }

  @Test func missingRequestIDIsInvalidArgument() async throws {
    let (_, pool) = try await TestDB.schema("mut")
    do {
      _ = try await create(pool, id: "", n: 4)
      Issue.record("accepted without request_id")
    } catch let e as RPCError {
      #expect(e.code == .invalidArgument)
    }
    #expect(try await count(pool, "SELECT count(*) FROM effects") == 0)
    await pool.close()
  }
}
