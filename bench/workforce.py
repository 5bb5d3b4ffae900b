"""Workforce benchmark (a benchmark, not a test; run through bench/workforce.sh).

Seeds, through the CLI's imports: 5,000 filed institutions over 5 counties (1,000 in 吴兴区 330502)
in the registry, which the workforce learns of from the registry's change feed; then 100,000 people
(--people), 20 staff at each institution of 330502 with a health-worker certificate every fifth,
the rest not employed; then 1,000 lifetime bans (--bans) through BanPerson. Measures in one run:
  - CheckEligibility (a person who is not banned) and the registry's GetInstitution with h2load at
    1x1, 16x1, 16x8: req/s, mean and p99 latency, the service's CPU per call — side by side, with
    the ratio of each eligibility figure to GetInstitution's;
  - ListCompliance for the whole county (1,000 institutions in one page): latency over 10 calls.
Each call measured must answer grpc-status OK (checked from the service's /metrics).
"""
import argparse
import csv
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from registry import credit_code, grpc_frame, h2load, ok_count, postgres_cpu_seconds, seed_files  # noqa: E402
from wire import cpu_seconds, free_port, latencies_us, wait_port  # noqa: E402

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def resident_id(n):
    # (n mod 40, n mod 12, n mod 28) differ for every n below 840 (their least common multiple);
    # the sequence number counts the rounds of 840.
    body = f"330502{1965 + n % 40}{1 + n % 12:02d}{1 + n % 28:02d}{n // 840:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS)) % 11]


def token(bin_, keys, roles, subject="bench"):
    return subprocess.run([str(bin_ / "tuoyu-token"), "issue", "--key", f"{keys}/private.pem", "--subject", subject,
                           "--department", "hrss", "--roles", roles, "--ttl=86400"],
                          check=True, capture_output=True, text=True).stdout.strip()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--keys", required=True)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--people", type=int, default=100_000)
    p.add_argument("--bans", type=int, default=1_000)
    args = p.parse_args()
    bin_ = pathlib.Path(args.bin)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tuoyu-bench-workforce-"))
    keys = args.keys
    tok = token(bin_, keys, "registry.admin,leader,workforce.officer,workforce.admin,workforce.eligibility")
    (tmp / "vault.keys").write_text("bench:" + __import__("base64").b64encode(os.urandom(32)).decode() + "\n")
    (tmp / "workforce.token").write_text(token(bin_, keys, "service", subject="workforce"))
    rport, rmport, wport, wmport = free_port(), free_port(), free_port(), free_port()
    registry = subprocess.Popen([str(bin_ / "tuoyu-registry"), "--listen", f"127.0.0.1:{rport}",
                                 "--metrics-listen", f"127.0.0.1:{rmport}", "--max-connections", "16",
                                 "--database-url", args.db.replace("postgres@", "tuoyu_registry@"),
                                 "--token-public-key", f"{keys}/public.pem"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workforce = subprocess.Popen([str(bin_ / "tuoyu-workforce"), "--listen", f"127.0.0.1:{wport}",
                                  "--metrics-listen", f"127.0.0.1:{wmport}", "--max-connections", "16",
                                  "--database-url", args.db.replace("postgres@", "tuoyu_workforce@"),
                                  "--token-public-key", f"{keys}/public.pem", "--vault-key-file", str(tmp / "vault.keys"),
                                  "--service-token-file", str(tmp / "workforce.token"),
                                  "--peer-registry", f"127.0.0.1:{rport}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(rport, registry)
        wait_port(wport, workforce)
        env = dict(os.environ, TUOYU_REGISTRY_ADDR=f"127.0.0.1:{rport}", TUOYU_WORKFORCE_ADDR=f"127.0.0.1:{wport}",
                   TUOYU_TOKEN=tok)

        def cli(*a, check=True):
            r = subprocess.run([str(bin_ / "tuoyu"), *a], env=env, capture_output=True, text=True)
            if check and r.returncode != 0:
                raise SystemExit(f"tuoyu {' '.join(a)}: {r.stdout}{r.stderr}")
            return r
        for _ in range(100):
            if cli("registry", "rules", check=False).returncode == 0 and cli("workforce", "courses", check=False).returncode == 0:
                break
            time.sleep(0.1)
        regions, inst = seed_files(tmp, 5000)
        cli("registry", "import-regions", str(regions))
        t0 = time.monotonic()
        cli("registry", "import", "--quiet", str(inst))
        codes = [row["credit_code"] for row in csv.DictReader(open(inst, encoding="utf-8"))]
        ours = [c for i, c in enumerate(codes) if i % 5 == 0]  # the townships of 330502: every fifth
        # The workforce's view follows the registry's feed.
        while cli("workforce", "compliance", codes[-1], check=False).returncode != 0:
            time.sleep(0.2)
        feed_s = time.monotonic() - t0

        people = tmp / "people.csv"
        with open(people, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["name", "id_number", "credit_code", "role", "start_date", "certificate_kind", "certificate_number",
                        "certificate_issuer", "certificate_issued"])
            for n in range(args.people):
                employed = n < 20 * len(ours)
                health = employed and n % 5 == 0
                w.writerow([f"员工{n}", resident_id(n), ours[n // 20] if employed else "",
                            ("health-worker" if health else "cook") if employed else "", "2025-01-01" if employed else "",
                            "health-care" if health else "", f"BJ{n:07d}" if health else "",
                            "湖州市卫生健康委员会" if health else "", "2024-06-01" if health else ""])
        t0 = time.monotonic()
        cli("workforce", "import", str(people))
        import_s = time.monotonic() - t0

        sys.path.insert(0, str(tmp))
        from grpc_tools import protoc
        include = pathlib.Path(protoc.__file__).parent / "_proto"
        protos = ["tuoyu/common/v1/common.proto", "tuoyu/common/v1/limits.proto", "tuoyu/registry/v1/registry.proto",
                  "tuoyu/workforce/v1/workforce.proto"]
        assert protoc.main(["protoc", f"-I{ROOT / 'protos'}", f"-I{include}", f"--python_out={tmp}",
                            f"--grpc_python_out={tmp}"] + [str(ROOT / "protos" / x) for x in protos]) == 0
        import grpc
        from tuoyu.registry.v1 import registry_pb2
        from tuoyu.workforce.v1 import workforce_pb2 as wf, workforce_pb2_grpc as wf_grpc
        md = (("authorization", f"Bearer {tok}"),)
        t0 = time.monotonic()
        with grpc.insecure_channel(f"127.0.0.1:{wport}") as ch:
            stub = wf_grpc.WorkforceStub(ch)
            for b in range(args.bans):
                n = args.people - 1 - b * 7  # among the people not employed, and every 7th
                stub.BanPerson(wf.BanPersonRequest(
                    request_id=f"bench-ban-{b}", person=wf.PersonRef(id_number=resident_id(n)),
                    decision=wf.Decision(case_number=f"(2025)浙0502刑初{b}号", authority="吴兴区人民法院",
                                         decided_on={"year": 2025, "month": 6, "day": 1}, reason="虐待被看护人")),
                    metadata=md, timeout=30)
            bans_s = time.monotonic() - t0
            banned = stub.CheckEligibility(wf.CheckEligibilityRequest(id_number=resident_id(args.people - 1)),
                                           metadata=md, timeout=10)
            clean = stub.CheckEligibility(wf.CheckEligibilityRequest(id_number=resident_id(4242)), metadata=md, timeout=10)
            assert banned.eligible is False and clean.eligible is True
            comp_ms = []
            for _ in range(10):
                t = time.monotonic()
                page = stub.ListCompliance(wf.ListComplianceRequest(region_code="330502", page_size=1000), metadata=md,
                                           timeout=120)
                comp_ms.append((time.monotonic() - t) * 1000)
            assert len(page.institutions) == len(ours) and page.next_page_token == "", len(page.institutions)
            assert all(c.staff == 20 for c in page.institutions)
        subprocess.run(["psql", args.db, "-qc", "VACUUM ANALYZE"], check=True)

        calls = [
            ("CheckEligibility", wport, wmport, "/tuoyu.workforce.v1.Workforce/CheckEligibility",
             wf.CheckEligibilityRequest(id_number=resident_id(4242)), workforce),
            ("GetInstitution", rport, rmport, "/tuoyu.registry.v1.Registry/GetInstitution",
             registry_pb2.GetInstitutionRequest(credit_code=credit_code(4242)), registry),
        ]
        rows = {}
        for name, port, mport, path, msg, proc in calls:
            body = tmp / f"{name}.bin"
            body.write_bytes(grpc_frame(msg.SerializeToString()))
            for clients, streams in ((1, 1), (16, 1), (16, 8)):
                h2load(port, path, str(body), tok, clients, streams, 1)
                log = str(tmp / f"{name}-{clients}x{streams}.log")
                c0 = ok_count(mport, path)
                before, pg0 = cpu_seconds(proc.pid), postgres_cpu_seconds()
                done, rps = h2load(port, path, str(body), tok, clients, streams, args.duration, log)
                cpu, pg = cpu_seconds(proc.pid) - before, postgres_cpu_seconds() - pg0
                c1 = ok_count(mport, path)
                bad = sum(c1.get(k, 0) - c0.get(k, 0) for k in c1 if k not in ("OK", "CANCELLED"))
                mean, p99 = latencies_us(log)
                rows[(name, f"{clients}x{streams}")] = dict(rps=rps, mean=mean, p99=p99, cpu=cpu / max(done, 1) * 1e6,
                                                           pg=pg / max(done, 1) * 1e6, bad=bad)
    finally:
        for proc in (workforce, registry):
            proc.terminate()
            proc.wait(timeout=15)

    print(f"\nWorkforce: {args.people} people, {args.bans} bans, {len(codes)} institutions ({len(ours)} in 330502, "
          f"20 staff each); h2load -D {args.duration}s; one Postgres 15, tuoyu-registry and tuoyu-workforce (pools of "
          f"16), all on this machine's 2 cores (not pinned).\n")
    print(f"registry import of {len(codes)} institutions and the workforce's view of them through the feed: {feed_s:.1f} s")
    print(f"workforce import of {args.people} people ({20 * len(ours)} hired, a certificate every fifth of those): "
          f"{import_s:.1f} s ({args.people / import_s:.0f} rows/s)")
    print(f"{args.bans} bans through BanPerson, one call each: {bans_s:.1f} s ({args.bans / bans_s:.0f}/s)")
    print(f"ListCompliance of 330502 ({len(ours)} institutions, one page) over 10 calls: median "
          f"{statistics.median(comp_ms):.0f} ms, max {max(comp_ms):.0f} ms\n")
    print(f"{'rpc':<17} {'shape':>6} {'req/s':>8} {'mean µs':>8} {'p99 µs':>8} {'svc CPU µs':>10} {'pg CPU µs':>9} "
          f"{'x GetInst req/s':>15} {'x GetInst p99':>13} {'not OK':>6}")
    for (name, shape), r in rows.items():
        ref = rows[("GetInstitution", shape)]
        print(f"{name:<17} {shape:>6} {r['rps']:>8.0f} {r['mean']:>8.0f} {r['p99']:>8.0f} {r['cpu']:>10.1f} {r['pg']:>9.1f} "
              f"{r['rps'] / ref['rps']:>15.2f} {r['p99'] / ref['p99']:>13.2f} {r['bad']:>6.0f}")
    print("\nx GetInst: the eligibility check's figure over GetInstitution's at the same shape (req/s: higher is "
          "better; p99: lower is better). Each eligibility check also writes its audit row.")


if __name__ == "__main__":
    main()
