// The database path, side by side (a benchmark, not a test): the registry's GetInstitution statement
// (institution joined to its current version, by credit code, a 300-byte body) run three ways —
//
//   blocking, unnamed   the first design: each statement handed to a pool thread that runs
//                       libpq's blocking PQexecParams (parsed and planned every time);
//   blocking, prepared  the same thread hop with a prepared statement (PQexecPrepared);
//   non-blocking        `PostgresConnection`: prepared, sent from the calling task, which parks on
//                       the reactor until the answer is on the socket (no thread hop).
//
// Per way: one task in sequence (µs per query, client CPU µs per query, the backend's CPU µs per
// query) and 16 tasks on 16 connections at once (queries/s, client CPU µs per query), alternated,
// best of three; ratios printed.
// Usage: tuoyu-bench-postgres --url URL [--rows N] [--iterations M]
import CLibPQ
import Foundation
import NIOPosix
import Postgres

func argument(_ name: String, _ fallback: String) -> String {
  guard let i = CommandLine.arguments.firstIndex(of: name), i + 1 < CommandLine.arguments.count else { return fallback }
  return CommandLine.arguments[i + 1]
}

/// CPU seconds a process has used (user + system), from /proc.
func cpuSeconds(pid: Int32) -> Double {
  guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
    let close = stat.lastIndex(of: ")")
  else { return 0 }
  let fields = stat[stat.index(after: close)...].split(separator: " ")
  let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
  return ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks
}

func selfCPU() -> Double { cpuSeconds(pid: getpid()) }

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

let url = argument("--url", ProcessInfo.processInfo.environment["TUOYU_BENCH_DATABASE_URL"] ?? "")
let rows = Int(argument("--rows", "10000")) ?? 10000
let iterations = Int(argument("--iterations", "20000")) ?? 20000
guard !url.isEmpty else {
  FileHandle.standardError.write(Data("usage: tuoyu-bench-postgres --url URL [--rows N] [--iterations M]\n".utf8))
  exit(64)
}

let sql = """
  SELECT v.body FROM bench_institution i
  JOIN bench_version v ON v.credit_code = i.credit_code AND v.version = i.current_version
  WHERE i.credit_code = $1
  """

/// The first design, kept here only to compare: a blocking libpq connection whose every call runs
/// on a pool thread (a hop there and back per statement); rows read into Strings as it did.
final class BlockingConnection: @unchecked Sendable {
  let conn: OpaquePointer?
  let prepared: Bool
  init(prepared: Bool) {
    conn = PQconnectdb(url)
    precondition(PQstatus(conn) == CONNECTION_OK)
    PQclear(PQexec(conn, "SET bytea_output = 'hex'"))
    self.prepared = prepared
    if prepared {
      var types: [Oid] = [25]
      PQclear(PQprepare(conn, "get", sql, 1, &types))
    }
  }
  deinit { PQfinish(conn) }
  var backendPID: Int32 { PQbackendPID(conn) }
  func get(_ code: String) throws -> [UInt8] {
    try code.withCString { value in
      var values: [UnsafePointer<CChar>?] = [value]
      var types: [Oid] = [25]
      let result =
        prepared
        ? PQexecPrepared(conn, "get", 1, &values, nil, nil, 0)
        : PQexecParams(conn, sql, 1, &types, &values, nil, nil, 0)
      defer { PQclear(result) }
      guard PQresultStatus(result) == PGRES_TUPLES_OK, PQntuples(result) == 1 else { throw CancellationError() }
      return try PostgresBytes.decode(postgresText: String(cString: PQgetvalue(result, 0, 0))).bytes
    }
  }
}

enum Way: String, CaseIterable {
  case blockingUnnamed = "blocking, unnamed"
  case blockingPrepared = "blocking, prepared"
  case nonBlocking = "non-blocking"
}

let threads = NIOThreadPool(numberOfThreads: 16)
threads.start()

/// One caller's loop over `codes` the given way; returns the backend's PID.
func loop(_ way: Way, _ codes: ArraySlice<String>, measuring: (Int32) -> Void = { _ in }) async throws {
  switch way {
  case .blockingUnnamed, .blockingPrepared:
    let c = BlockingConnection(prepared: way == .blockingPrepared)
    for code in codes.prefix(100) { _ = try await threads.runIfActive { try c.get(code) } }
    measuring(c.backendPID)
    for code in codes {
      let body = try await threads.runIfActive { try c.get(code) }
      precondition(body.count == 300)
    }
  case .nonBlocking:
    let c = try PostgresConnection(conninfo: url)
    for code in codes.prefix(100) { _ = try await c.query(PostgresQuery(unsafeSQL: sql, binds: [PostgresBind(code)])) }
    measuring(c.backendPID)
    for code in codes {
      let r = try await c.query(PostgresQuery(unsafeSQL: sql, binds: [PostgresBind(code)]))
      let body = try r[0].decode(PostgresBytes.self, at: 0)
      precondition(body.bytes.count == 300)
    }
  }
}

struct Sequential { var wall = Double.infinity, client = Double.infinity, backend = Double.infinity }
struct Concurrent { var qps = 0.0, client = Double.infinity }

func sequential(_ way: Way, _ codes: [String]) async throws -> Sequential {
  var pid: Int32 = 0
  var backend0 = 0.0, client0 = 0.0, start: UInt64 = 0
  try await loop(way, codes[...]) { p in
    pid = p
    backend0 = cpuSeconds(pid: p)
    client0 = selfCPU()
    start = now()
  }
  let n = Double(codes.count)
  return Sequential(
    wall: Double(now() - start) / 1e3 / n, client: (selfCPU() - client0) * 1e6 / n,
    backend: (cpuSeconds(pid: pid) - backend0) * 1e6 / n)
}

func concurrent(_ way: Way, _ codes: [String], tasks: Int) async throws -> Concurrent {
  let per = codes.count / tasks
  let client0 = selfCPU()
  let start = now()
  try await withThrowingTaskGroup(of: Void.self) { group in
    for t in 0..<tasks { group.addTask { try await loop(way, codes[(t * per)..<((t + 1) * per)]) } }
    try await group.waitForAll()
  }
  let n = Double(per * tasks)
  return Concurrent(qps: n / (Double(now() - start) / 1e9), client: (selfCPU() - client0) * 1e6 / n)
}

let setup = try PostgresConnection(conninfo: url)
try await setup.execute("SET client_min_messages = warning")
try await setup.execute(
  """
  DROP TABLE IF EXISTS bench_version; DROP TABLE IF EXISTS bench_institution;
  CREATE TABLE bench_institution (credit_code text PRIMARY KEY, current_version int NOT NULL);
  CREATE TABLE bench_version (credit_code text NOT NULL, version int NOT NULL, body bytea NOT NULL,
    PRIMARY KEY (credit_code, version));
  INSERT INTO bench_institution SELECT 'C' || lpad(i::text, 17, '0'), 2 FROM generate_series(1, \(rows)) i;
  INSERT INTO bench_version SELECT 'C' || lpad(i::text, 17, '0'), v, decode(repeat('ab', 300), 'hex')
    FROM generate_series(1, \(rows)) i, generate_series(1, 2) v;
  ANALYZE bench_institution; ANALYZE bench_version;
  """)

var rng = SystemRandomNumberGenerator()
let codes = (0..<iterations).map { _ in "C" + String(format: "%017d", Int.random(in: 1...rows, using: &rng)) }
var seq: [Way: Sequential] = [:]
var conc: [Way: Concurrent] = [:]
for _ in 0..<3 {
  for way in Way.allCases {
    let s = try await sequential(way, codes)
    var b = seq[way] ?? Sequential()
    b.wall = min(b.wall, s.wall)
    b.client = min(b.client, s.client)
    b.backend = min(b.backend, s.backend)
    seq[way] = b
    let c = try await concurrent(way, codes, tasks: 16)
    var d = conc[way] ?? Concurrent()
    d.qps = max(d.qps, c.qps)
    d.client = min(d.client, c.client)
    conc[way] = d
  }
}

print("GetInstitution statement, \(rows) institutions, \(iterations) queries per way and shape, best of 3")
func row(_ cells: [String]) -> String {
  zip(cells, [20, 10, 12, 12, 14, 12, 12]).map { c, w in String(repeating: " ", count: max(0, w - c.count)) + c }
    .joined(separator: " ")
}
print(row(["", "1 task:", "", "", "", "16 tasks:", ""]))
print(row(["way", "µs/query", "client CPU", "backend CPU", "queries/s", "queries/s", "client CPU"]))
for way in Way.allCases {
  let s = seq[way]!, c = conc[way]!
  print(
    row([
      way.rawValue, String(format: "%.1f", s.wall), String(format: "%.1f", s.client), String(format: "%.1f", s.backend),
      String(format: "%.0f", 1e6 / s.wall), String(format: "%.0f", c.qps), String(format: "%.1f", c.client),
    ]))
}
let u = seq[.blockingUnnamed]!, p = seq[.blockingPrepared]!, n = seq[.nonBlocking]!
print(
  String(
    format: "prepared / unnamed (blocking): %.2f× the queries/s, %.2f× the backend CPU per query",
    u.wall / p.wall, p.backend / u.backend))
print(
  String(
    format:
      "non-blocking / blocking prepared: 1 task %.2f× the queries/s, %.2f× the client CPU per query; 16 tasks %.2f× the queries/s, %.2f× the client CPU per query",
    p.wall / n.wall, n.client / p.client, conc[.nonBlocking]!.qps / conc[.blockingPrepared]!.qps,
    conc[.nonBlocking]!.client / conc[.blockingPrepared]!.client))
try await setup.execute("DROP TABLE bench_version; DROP TABLE bench_institution")
try await threads.shutdownGracefully()
