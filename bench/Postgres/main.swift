// Prepared statements against unnamed ones (a benchmark, not a test): the registry's
// GetInstitution statement (institution joined to its current version, by credit code) on one
// connection, N times each way, alternated and best of three, side by side with ratios — client
// wall time per query and the Postgres backend's own CPU per query (utime + stime of its process).
// Usage: tuoyu-bench-postgres --url URL [--rows N] [--iterations M]
import Foundation
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

let url = argument("--url", ProcessInfo.processInfo.environment["TUOYU_BENCH_DATABASE_URL"] ?? "")
let rows = Int(argument("--rows", "10000")) ?? 10000
let iterations = Int(argument("--iterations", "20000")) ?? 20000
guard !url.isEmpty else {
  FileHandle.standardError.write(Data("usage: tuoyu-bench-postgres --url URL [--rows N] [--iterations M]\n".utf8))
  exit(64)
}

let setup = try PostgresConnection(conninfo: url)
try setup.execute("SET client_min_messages = warning")
try setup.execute(
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

func run(prepared: Bool) throws -> (wall: Double, server: Double) {
  let c = try PostgresConnection(conninfo: url)
  c.preparesStatements = prepared
  var rng = SystemRandomNumberGenerator()
  let codes = (0..<iterations).map { _ in "C" + String(format: "%017d", Int.random(in: 1...rows, using: &rng)) }
  // Warm up (and prepare), then measure.
  for code in codes.prefix(200) { _ = try c.query(getInstitution(code)) }
  let cpu0 = cpuSeconds(pid: c.backendPID)
  let start = DispatchTime.now().uptimeNanoseconds
  for code in codes {
    let r = try c.query(getInstitution(code))
    precondition(r.count == 1)
  }
  let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e3 / Double(iterations)
  let server = (cpuSeconds(pid: c.backendPID) - cpu0) * 1e6 / Double(iterations)
  return (wall, server)
}

func getInstitution(_ code: String) -> PostgresQuery {
  """
  SELECT v.body FROM bench_institution i
  JOIN bench_version v ON v.credit_code = i.credit_code AND v.version = i.current_version
  WHERE i.credit_code = \(code)
  """
}

var best: [Bool: (wall: Double, server: Double)] = [:]
for _ in 0..<3 {
  for prepared in [false, true] {
    let r = try run(prepared: prepared)
    let b = best[prepared] ?? (Double.infinity, Double.infinity)
    best[prepared] = (min(b.wall, r.wall), min(b.server, r.server))
  }
}
let u = best[false]!, p = best[true]!
print("GetInstitution statement, \(rows) institutions, \(iterations) queries on one connection, best of 3")
func row(_ cells: [String]) -> String {
  zip(cells, [10, 10, 12, 16]).map { c, w in String(repeating: " ", count: max(0, w - c.count)) + c }.joined(
    separator: " ")
}
print(row(["mode", "µs/query", "queries/s", "backend CPU µs"]))
print(
  row([
    "unnamed", String(format: "%.1f", u.wall), String(format: "%.0f", 1e6 / u.wall), String(format: "%.1f", u.server),
  ]))
print(
  row([
    "prepared", String(format: "%.1f", p.wall), String(format: "%.0f", 1e6 / p.wall), String(format: "%.1f", p.server),
  ]))
print(
  String(
    format: "prepared / unnamed: %.2f× the queries/s, %.2f× the backend CPU per query", u.wall / p.wall,
    p.server / u.server))
try setup.execute("DROP TABLE bench_version; DROP TABLE bench_institution")
