"""Registry benchmark (a benchmark, not a test; run through bench/registry.sh).

Seeds a registry of filed institutions over 100 townships through the CLI's CSV import (timed),
first 10,000, then up to 100,000 (--sizes), and at each size measures, in one run on one database:
  - GetInstitution and ListInstitutions (page of 50) with h2load at 1x1, 16x1, 16x8: req/s, mean
    and p99 latency, the service's CPU per call and Postgres's CPU per call (every postgres
    process); every call is checked to have answered grpc-status OK (from /metrics);
  - GetIndicators for the city: latency over repeated calls (grpcio);
then, on the same server: pgbench select-only (-M prepared) at 1 and 16 clients, pgbench running
the registry's own GetInstitution statement (-M prepared, its Postgres CPU per call), and our echo
server's CPU per call at 16x8 — and prints them side by side with the ratios the goals name.
"""
import argparse
import csv
import os
import pathlib
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import wire  # noqa: E402
from wire import cpu_seconds, free_port, latencies_us, wait_port  # noqa: E402

A = "0123456789ABCDEFGHJKLMNPQRTUWXY"
W = [pow(3, i, 31) for i in range(17)]


def credit_code(n):
    body = f"91330{n // 10000 % 10}00MA{n:07d}"[:17]
    return body + A[(31 - sum(A.index(c) * W[i] for i, c in enumerate(body)) % 31) % 31]


def seed_files(tmp, institutions=10_000, townships=100):
    counties = [f"3305{c:02d}" for c in (2, 3, 21, 22, 23)]
    regions = tmp / "regions.csv"
    with open(regions, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["code", "name", "level", "parent", "year", "population", "seat_target", "average_fee_yuan"])
        w.writerow(["330500", "湖州市", "city", "", "2025", "", "15100", ""])
        for c in counties:
            w.writerow([c, f"县{c}", "county", "330500", "2025", "600000", "3000", "2600"])
        towns = []
        for i in range(townships):
            c = counties[i % len(counties)]
            t = f"{c}{i // len(counties) + 1:03d}"
            towns.append(t)
            w.writerow([t, f"镇{t}", "township", c, "", "", "", ""])
    rng = random.Random(7)
    inst = tmp / "institutions.csv"
    with open(inst, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["credit_code", "name", "legal_nature", "authority", "mode", "care_types", "inclusive",
                    "monthly_fee_yuan", "township", "address", "infant", "toddler", "older_toddler", "filing_number",
                    "effective_date"])
        for n in range(institutions):
            inclusive = rng.random() < 0.8
            w.writerow([credit_code(n), f"机构{n}", "for-profit", "市场监督管理局", "private", "full-day",
                        "yes" if inclusive else "no", rng.randint(1200, 2500) if inclusive else rng.randint(2700, 6000),
                        towns[n % townships], f"示例路{n}号", f"1/{rng.randint(5, 10)}", f"2/{rng.randint(15, 30)}",
                        f"2/{rng.randint(20, 40)}", f"OLD-{n:06d}", f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"])
    return regions, inst


def grpc_frame(message_bytes):
    return b"\x00" + len(message_bytes).to_bytes(4, "big") + message_bytes


def h2load(port, path, body_file, token, clients, streams, duration, log_file=None):
    # Not pinned: the service, Postgres and h2load share both cores.
    done, _, rps, _ = wire.h2load(port, body_file, clients, streams, duration, log_file, path=path,
                                  headers=[f"authorization: Bearer {token}"], cpu=None)
    return done, rps


def postgres_cpu_seconds():
    """CPU seconds used so far by the throwaway cluster (the only one on the machine): every
    postgres process's own, plus what the postmaster's children that have exited used (their time
    moves to its cutime/cstime when it reaps them — pgbench's backends end with pgbench)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            if fields[1] != "0" and open(f"/proc/{fields[1]}/comm").read().strip() != "postgres":
                total += (int(fields[13]) + int(fields[14])) / ticks  # the postmaster: reaped children
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
    return total


def pgbench(url, clients, duration, script=None, extra=()):
    cmd = ["pgbench", "-M", "prepared", "-c", str(clients), "-j", "1", "-T", str(duration), *extra]
    cmd += ["-f", script] if script else ["-S"]
    c0 = postgres_cpu_seconds()
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout
    cpu = postgres_cpu_seconds() - c0
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    n = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
    return tps, cpu / max(n, 1) * 1e6


def ok_count(metrics_port, method):
    """Calls of `method` (/service/Method) completed so far, by gRPC status, from the service's
    grpc_server_handled_total."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    service, name = method.strip("/").split("/")
    codes = {}
    for line in text.splitlines():
        if (line.startswith("grpc_server_handled_total{") and f'grpc_service="{service}"' in line
                and f'grpc_method="{name}"' in line):
            code = re.search(r'grpc_code="(\w+)"', line).group(1)
            codes[code] = codes.get(code, 0) + float(line.rsplit(" ", 1)[1])
    return codes


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--db", required=True, help="admin URL of the throwaway cluster")
    p.add_argument("--keys", required=True)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--sizes", default="10000,100000", help="institutions at each measuring point, ascending")
    args = p.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    bin_ = pathlib.Path(args.bin)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tuoyu-bench-registry-"))

    token = subprocess.run([str(bin_ / "tuoyu-token"), "issue", "--key", f"{args.keys}/private.pem", "--subject", "bench",
                            "--department", "health", "--roles", "registry.admin,leader", "--ttl=86400"],
                           check=True, capture_output=True, text=True).stdout.strip()
    port, mport = free_port(), free_port()
    proc = subprocess.Popen([str(bin_ / "tuoyu-registry"), "--listen", f"127.0.0.1:{port}",
                             "--metrics-listen", f"127.0.0.1:{mport}", "--max-connections", "16",
                             "--database-url", args.db.replace("postgres@", "tuoyu_registry@"),
                             "--token-public-key", f"{args.keys}/public.pem"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = []  # per size: dict(size, import_rows, import_s, ind_ms, rows)
    try:
        wait_port(port, proc)
        env = dict(os.environ, TUOYU_REGISTRY_ADDR=f"127.0.0.1:{port}", TUOYU_TOKEN=token)
        for _ in range(100):
            if subprocess.run([str(bin_ / "tuoyu"), "registry", "rules"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        regions, inst = seed_files(tmp, sizes[-1])
        subprocess.run([str(bin_ / "tuoyu"), "registry", "import-regions", str(regions)], env=env, check=True,
                       capture_output=True)
        all_rows = open(inst, encoding="utf-8").read().splitlines()

        sys.path.insert(0, str(tmp))
        from grpc_tools import protoc
        include = pathlib.Path(protoc.__file__).parent / "_proto"
        assert protoc.main(["protoc", f"-I{ROOT / 'protos'}", f"-I{include}", f"--python_out={tmp}",
                            f"--grpc_python_out={tmp}", str(ROOT / "protos/tuoyu/common/v1/common.proto"),
                            str(ROOT / "protos/tuoyu/common/v1/limits.proto"),
                            str(ROOT / "protos/tuoyu/registry/v1/registry.proto")]) == 0
        import grpc
        from tuoyu.registry.v1 import registry_pb2, registry_pb2_grpc

        done_rows = 0
        for size in sizes:
            part = tmp / f"institutions-{size}.csv"
            part.write_text("\n".join([all_rows[0]] + all_rows[1 + done_rows:1 + size]) + "\n", encoding="utf-8")
            t0 = time.monotonic()
            r = subprocess.run([str(bin_ / "tuoyu"), "registry", "import", "--quiet", str(part)], env=env,
                               capture_output=True, text=True)
            import_s = time.monotonic() - t0
            assert r.returncode == 0, r.stdout + r.stderr
            import_rows = size - done_rows
            done_rows = size
            subprocess.run(["psql", args.db, "-qc", "VACUUM ANALYZE"], check=True)

            bodies = {
                "GetInstitution": registry_pb2.GetInstitutionRequest(credit_code=credit_code(4242)),
                "ListInstitutions": registry_pb2.ListInstitutionsRequest(region_code="330502", page_size=50),
            }
            md = (("authorization", f"Bearer {token}"),)
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                stub = registry_pb2_grpc.RegistryStub(ch)
                got = stub.GetInstitution(bodies["GetInstitution"], metadata=md, timeout=10)
                assert got.filing_number == "OLD-004242", got
                assert len(stub.ListInstitutions(bodies["ListInstitutions"], metadata=md, timeout=10).institutions) == 50
                ind_ms = []
                for _ in range(20):
                    t = time.monotonic()
                    ind = stub.GetIndicators(registry_pb2.GetIndicatorsRequest(year=2025), metadata=md, timeout=60)
                    ind_ms.append((time.monotonic() - t) * 1000)
                assert ind.regions[0].institutions == size, ind.regions[0]

            rows = []
            for name, msg in bodies.items():
                body_file = tmp / f"{name}.bin"
                body_file.write_bytes(grpc_frame(msg.SerializeToString()))
                path = f"/tuoyu.registry.v1.Registry/{name}"
                for clients, streams in ((1, 1), (16, 1), (16, 8)):
                    h2load(port, path, str(body_file), token, clients, streams, 1)  # warm-up
                    log = str(tmp / f"{name}-{size}-{clients}x{streams}.log")
                    c0 = ok_count(mport, path)
                    before = cpu_seconds(proc.pid)
                    pg_before = postgres_cpu_seconds()
                    done, rps = h2load(port, path, str(body_file), token, clients, streams, args.duration, log)
                    cpu = cpu_seconds(proc.pid) - before
                    pg_cpu = postgres_cpu_seconds() - pg_before
                    c1 = ok_count(mport, path)
                    delta = {k: c1.get(k, 0) - c0.get(k, 0) for k in c1}
                    mean, p99 = latencies_us(log)
                    rows.append(dict(rpc=name, shape=f"{clients}x{streams}", rps=rps, mean=mean, p99=p99,
                                     cpu=cpu / max(done, 1) * 1e6, pg=pg_cpu / max(done, 1) * 1e6,
                                     ok=delta.get("OK", 0), cancelled=delta.get("CANCELLED", 0),
                                     bad=sum(v for k, v in delta.items() if k not in ("OK", "CANCELLED")), done=done))
            results.append(dict(size=size, import_rows=import_rows, import_s=import_s, ind_ms=ind_ms, rows=rows))
    finally:
        proc.terminate()
        proc.wait(timeout=15)

    # The references, on the same server: pgbench select-only (its pgbench_* tables in schema
    # public, beside the registry's schema), pgbench running the registry's own statement, and
    # the echo server's CPU per call.
    pg_url = args.db
    subprocess.run(["pgbench", "-q", "-i", "-s", "10", pg_url], check=True, capture_output=True)
    pgb = {c: pgbench(pg_url, c, args.duration) for c in (1, 16)}
    # GetInstitution's own statement, its credit code a bound parameter as the service's is.
    script = tmp / "get_institution.sql"
    script.write_text("SELECT body FROM registry.institution WHERE credit_code = :code;\n")
    own = {c: pgbench(pg_url, c, args.duration, str(script), extra=("-D", f"code={credit_code(4242)}"))
           for c in (1, 16)}
    echo_cpu = echo_cpu_per_call(bin_, tmp, args.duration)

    print(f"\nRegistry over 100 townships; h2load -D {args.duration}s; one Postgres 15, one tuoyu-registry "
          f"(pool of 16), all on this machine's 2 cores (not pinned).\n")
    print(f"pgbench -S -M prepared (select-only, scale 10): 1 client {pgb[1][0]:.0f} TPS, 16 clients {pgb[16][0]:.0f} TPS")
    print(f"pgbench -M prepared, GetInstitution's own statement (text results; the service asks for binary): "
          f"1 client {own[1][0]:.0f} TPS, 16 clients "
          f"{own[16][0]:.0f} TPS; Postgres CPU {own[16][1]:.1f} µs per statement (16 clients)")
    print(f"echo (tuoyu-bench-server, bench.Bench/Get) at 16x8: {echo_cpu:.1f} µs server CPU per call\n")
    for res in results:
        size = res["size"]
        print(f"== {size} institutions")
        print(f"import: {res['import_rows']} rows through `tuoyu registry import` in {res['import_s']:.1f} s "
              f"({res['import_rows'] / res['import_s']:.0f} rows/s; 200 rows per transaction, a savepoint per row)")
        print(f"GetIndicators (city, year 2025) over 20 calls: median {statistics.median(res['ind_ms']):.1f} ms, "
              f"max {max(res['ind_ms']):.1f} ms")
        print(f"{'rpc':<17} {'shape':>6} {'req/s':>8} {'mean µs':>8} {'p99 µs':>8} {'svc CPU µs':>10} "
              f"{'pg CPU µs':>9} {'x pgbench -S':>12} {'pg CPU x own':>12} {'svc CPU x echo':>14} {'OK':>7} {'other':>5} {'cancelled*':>10}")
        for r in res["rows"]:
            ref = pgb[1][0] if r["shape"] == "1x1" else pgb[16][0]
            print(f"{r['rpc']:<17} {r['shape']:>6} {r['rps']:>8.0f} {r['mean']:>8.0f} {r['p99']:>8.0f} {r['cpu']:>10.1f} "
                  f"{r['pg']:>9.1f} {r['rps'] / ref:>12.2f} {r['pg'] / own[16][1]:>12.2f} {r['cpu'] / echo_cpu:>14.2f} "
                  f"{r['ok']:>7.0f} {r['bad']:>5.0f} {r['cancelled']:>10.0f}")
        print()
    print("x pgbench -S: req/s over pgbench select-only TPS (1 client for 1x1, 16 for the others); pg CPU x own: Postgres "
          "CPU per call over pgbench's on GetInstitution's own statement; svc CPU x echo: the service's CPU per call "
          "over the echo's. * in flight when h2load stopped (it resets them); 'other' counts any other status.")


def echo_cpu_per_call(bin_, tmp, duration):
    """Server CPU µs per call of our echo server at 16x8 (the wire alone)."""
    body = tmp / "echo.bin"
    body.write_bytes(wire.request_body())
    port = free_port()
    proc = subprocess.Popen([str(bin_ / "tuoyu-bench-server"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        wire.h2load(port, str(body), 16, 8, 1, cpu=None)
        before = cpu_seconds(proc.pid)
        done, _, _, _ = wire.h2load(port, str(body), 16, 8, duration, cpu=None)
        return (cpu_seconds(proc.pid) - before) / max(done, 1) * 1e6
    finally:
        proc.terminate()
        proc.wait(timeout=15)


if __name__ == "__main__":
    main()
