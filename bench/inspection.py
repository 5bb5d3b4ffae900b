"""Inspection benchmark (a benchmark, not a test; run through bench/inspection.sh).

Seeds 5,000 filed institutions over 5 counties (1,000 in 330502) in the registry, which inspection
learns of from the registry's change feed, and publishes a 60-item checklist. Then, in one run:
  - recording a 60-item inspection end to end — RecordInspection with all 60 results, then
    FinaliseInspection (orders, events, grade) — from 1 and from 16 concurrent grpcio clients:
    inspections/s and the p50/p99 of the pair, with the service's CPU per inspection;
  - 12 months of findings for the 1,000 institutions of 330502 (--per-institution inspections
    each, random failures), then ListGrades of the county: latency over 10 calls.
"""
import argparse
import concurrent.futures
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from registry import seed_files  # noqa: E402
from wire import cpu_seconds, free_port, wait_port  # noqa: E402


def token(bin_, keys, roles, subject="bench"):
    return subprocess.run([str(bin_ / "tuoyu-token"), "issue", "--key", f"{keys}/private.pem", "--subject", subject,
                           "--department", "health", "--roles", roles, "--ttl=86400"],
                          check=True, capture_output=True, text=True).stdout.strip()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--keys", required=True)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--per-institution", type=int, default=4)
    args = p.parse_args()
    bin_ = pathlib.Path(args.bin)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tuoyu-bench-inspection-"))
    keys = args.keys
    tok = token(bin_, keys, "registry.admin,leader,inspection.admin,inspection.county-inspector")
    (tmp / "inspection.token").write_text(token(bin_, keys, "service", subject="inspection"))
    rport, iport = free_port(), free_port()
    registry = subprocess.Popen([str(bin_ / "tuoyu-registry"), "--listen", f"127.0.0.1:{rport}", "--metrics-listen", "off",
                                 "--database-url", args.db.replace("postgres@", "tuoyu_registry@"),
                                 "--token-public-key", f"{keys}/public.pem"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    inspection = subprocess.Popen([str(bin_ / "tuoyu-inspection"), "--listen", f"127.0.0.1:{iport}", "--metrics-listen", "off",
                                   "--max-connections", "16", "--database-url", args.db.replace("postgres@", "tuoyu_inspection@"),
                                   "--token-public-key", f"{keys}/public.pem",
                                   "--service-token-file", str(tmp / "inspection.token"),
                                   "--peer-registry", f"127.0.0.1:{rport}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(rport, registry)
        wait_port(iport, inspection)
        env = dict(os.environ, TUOYU_REGISTRY_ADDR=f"127.0.0.1:{rport}", TUOYU_INSPECTION_ADDR=f"127.0.0.1:{iport}",
                   TUOYU_TOKEN=tok)

        def cli(*a, check=True):
            r = subprocess.run([str(bin_ / "tuoyu"), *a], env=env, capture_output=True, text=True)
            if check and r.returncode != 0:
                raise SystemExit(f"tuoyu {' '.join(a)}: {r.stdout}{r.stderr}")
            return r
        for _ in range(100):
            if cli("registry", "rules", check=False).returncode == 0 and cli("inspection", "checklist", check=False).returncode == 0:
                break
            time.sleep(0.1)
        regions, inst = seed_files(tmp, 5000)
        cli("registry", "import-regions", str(regions))
        cli("registry", "import", "--quiet", str(inst))
        codes = [line.split(",")[0] for line in open(inst, encoding="utf-8").read().splitlines()[1:]]
        ours = [c for i, c in enumerate(codes) if i % 5 == 0]
        while cli("inspection", "grade", codes[-1], check=False).returncode != 0:
            time.sleep(0.2)

        sys.path.insert(0, str(tmp))
        from grpc_tools import protoc
        include = pathlib.Path(protoc.__file__).parent / "_proto"
        protos = ["tuoyu/common/v1/common.proto", "tuoyu/common/v1/limits.proto", "tuoyu/inspection/v1/inspection.proto"]
        assert protoc.main(["protoc", f"-I{ROOT / 'protos'}", f"-I{include}", f"--python_out={tmp}",
                            f"--grpc_python_out={tmp}"] + [str(ROOT / "protos" / x) for x in protos]) == 0
        import grpc
        from tuoyu.inspection.v1 import inspection_pb2 as ip, inspection_pb2_grpc as ip_grpc
        md = (("authorization", f"Bearer {tok}"),)
        categories = [ip.CATEGORY_BUILDING, ip.CATEGORY_FIRE, ip.CATEGORY_FOOD, ip.CATEGORY_PERSONAL_SAFETY,
                      ip.CATEGORY_HYGIENE, ip.CATEGORY_STAFFING, ip.CATEGORY_RECORDS]
        items = [ip.ChecklistItem(code=f"ITEM-{n:02d}", category=categories[n % 7], text=f"检查项目 {n}",
                                  severity=[ip.SEVERITY_MINOR, ip.SEVERITY_MINOR, ip.SEVERITY_MAJOR][n % 3])
                 for n in range(60)]
        channel = grpc.insecure_channel(f"127.0.0.1:{iport}")
        stub = ip_grpc.InspectionsStub(channel)
        stub.PublishChecklist(ip.PublishChecklistRequest(request_id="bench-checklist", title="60 项", items=items),
                              metadata=md, timeout=30)
        rng = random.Random(3)
        serial = iter(range(10**9))

        def one(code, day, fail_rate=0.0):
            n = next(serial)
            results = [ip.ItemResult(code=i.code, outcome=ip.OUTCOME_FAIL if rng.random() < fail_rate else ip.OUTCOME_PASS)
                       for i in items]
            t = time.monotonic()
            i = stub.RecordInspection(ip.RecordInspectionRequest(
                request_id=f"bench-r-{n}", credit_code=code, level=ip.LEVEL_COUNTY, kind=ip.KIND_ROUTINE_PATROL,
                inspected_on={"year": day[0], "month": day[1], "day": day[2]}, inspectors=["检查员"], results=results),
                metadata=md, timeout=60)
            stub.FinaliseInspection(ip.FinaliseInspectionRequest(request_id=f"bench-f-{n}", inspection_id=i.inspection_id),
                                    metadata=md, timeout=60)
            return time.monotonic() - t

        # 12 months of findings first (also the warm-up).
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            jobs = [pool.submit(one, code, (2025, 1 + k * 12 // args.per_institution, 10), 0.01)
                    for code in ours for k in range(args.per_institution)]
            for j in jobs:
                j.result()
        seed_s = time.monotonic() - t0
        seeded = len(ours) * args.per_institution

        rows = []
        for workers in (1, 16):
            before = cpu_seconds(inspection.pid)
            lat = []
            end = time.monotonic() + args.duration
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                def loop():
                    out = []
                    while time.monotonic() < end:
                        out.append(one(rng.choice(ours), (2025, 11, 20), 0.02))
                    return out
                for f in [pool.submit(loop) for _ in range(workers)]:
                    lat += f.result()
            cpu = cpu_seconds(inspection.pid) - before
            lat.sort()
            rows.append((workers, len(lat) / args.duration, statistics.median(lat) * 1000,
                         lat[int(len(lat) * 0.99) - 1] * 1000, cpu / max(len(lat), 1) * 1e6))

        grade_ms = []
        for _ in range(10):
            t = time.monotonic()
            g = stub.ListGrades(ip.ListGradesRequest(region_code="330502", as_of={"year": 2025, "month": 12, "day": 31}),
                                metadata=md, timeout=120)
            grade_ms.append((time.monotonic() - t) * 1000)
        assert len(g.grades) == len(ours), len(g.grades)
        grades = {}
        for x in g.grades:
            grades[x.grade] = grades.get(x.grade, 0) + 1
        channel.close()
    finally:
        for proc in (inspection, registry):
            proc.terminate()
            proc.wait(timeout=15)

    print(f"\nInspection: {len(codes)} institutions ({len(ours)} in 330502), a 60-item checklist; tuoyu-registry, "
          f"tuoyu-inspection (pool of 16), Postgres 15 and the grpcio clients on this machine's 2 cores.\n")
    print(f"12 months of findings: {seeded} inspections recorded and finalised (8 clients) in {seed_s:.1f} s "
          f"({seeded / seed_s:.0f}/s)")
    print(f"ListGrades of 330502 ({len(ours)} institutions, {seeded} inspections in the window) over 10 calls: "
          f"median {statistics.median(grade_ms):.0f} ms, max {max(grade_ms):.0f} ms; grades {dict(sorted(grades.items()))}\n")
    print(f"{'record + finalise, 60 items':<30} {'inspections/s':>13} {'p50 ms':>8} {'p99 ms':>8} {'svc CPU µs':>11}")
    for workers, rate, p50, p99, cpu in rows:
        print(f"{f'{workers} client(s)':<30} {rate:>13.0f} {p50:>8.1f} {p99:>8.1f} {cpu:>11.0f}")
    print("\nEach inspection is two calls (RecordInspection with 60 results, FinaliseInspection: orders, the "
          "inspection.finalised event, the grade and its grade.computed event); the clients are Python grpcio threads.")


if __name__ == "__main__":
    main()
