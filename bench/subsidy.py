"""Subsidy benchmark (a benchmark, not a test; run through bench/subsidy.sh).

Seeds the demo city into the registry (the subsidy learns its institutions from the registry's
feed), a policy of 300 yuan a month per enrolled child, budgets, and --children local children
of 吴兴区 under three, enrolled at its filed 普惠 institutions (through `tuoyu subsidy
import-children`, timed). Then measures in one run:
  - a month's enrolment claims end to end, as the operators run them through the CLI: claim-month
    (validated, one per child), review and approval in batches of 1,000 (budgeted), and each payer's
    disbursement in batches of 1,000 — time per step and rows/s overall;
  - approvals one application per call from --officers concurrent finance officers (grpcio
    threads, each its own token), another month's reviewed claims: approvals/s and latency;
  - pgbench's TPCB-like transaction (its default script, -M prepared) at the same number of clients
    on the same server, side by side, with the ratio.
"""
import argparse
import base64
import concurrent.futures
import datetime
import json
import re
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from registry import postgres_cpu_seconds  # noqa: E402
from wire import cpu_seconds, free_port, wait_port  # noqa: E402

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
INSTITUTIONS = ["91330502MA00000011", "91330502MA00000024", "52330502MJ0000003Q", "91330502MA0000004A"]


def resident_id(born, seq):
    body = f"330502{born:%Y%m%d}{seq % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS)) % 11]


def tpcb_like(url, clients, duration):
    """pgbench's default TPC-B-like transaction (-M prepared): TPS and Postgres CPU per transaction."""
    c0 = postgres_cpu_seconds()
    out = subprocess.run(["pgbench", "-M", "prepared", "-c", str(clients), "-j", "1", "-T", str(duration), url],
                         check=True, capture_output=True, text=True).stdout
    cpu = postgres_cpu_seconds() - c0
    n = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
    return float(re.search(r"tps = ([\d.]+)", out).group(1)), cpu / max(n, 1) * 1e6


def token(bin_, keys, roles, subject):
    return subprocess.run([str(bin_ / "tuoyu-token"), "issue", "--key", f"{keys}/private.pem", "--subject", subject,
                           "--department", "finance", "--roles", roles, "--ttl=86400"],
                          check=True, capture_output=True, text=True).stdout.strip()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--keys", required=True)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--children", type=int, default=20_000)
    p.add_argument("--officers", type=int, default=16)
    args = p.parse_args()
    bin_ = pathlib.Path(args.bin)
    keys = args.keys
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tuoyu-bench-subsidy-"))
    (tmp / "vault.keys").write_text("bench:" + base64.b64encode(os.urandom(32)).decode() + "\n")
    for svc in ("registry", "inspection", "subsidy"):
        (tmp / f"{svc}.token").write_text(token(bin_, keys, "service", svc))
    rport, iport, sport, smport = free_port(), free_port(), free_port(), free_port()
    common = ["--token-public-key", f"{keys}/public.pem", "--max-connections", "16"]
    procs = {
        "registry": subprocess.Popen([str(bin_ / "tuoyu-registry"), "--listen", f"127.0.0.1:{rport}", "--metrics-listen", "off",
                                      "--database-url", args.db.replace("postgres@", "tuoyu_registry@"), *common],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        "inspection": subprocess.Popen([str(bin_ / "tuoyu-inspection"), "--listen", f"127.0.0.1:{iport}",
                                        "--metrics-listen", "off", "--service-token-file", str(tmp / "inspection.token"),
                                        "--peer-registry", f"127.0.0.1:{rport}",
                                        "--database-url", args.db.replace("postgres@", "tuoyu_inspection@"), *common],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        "subsidy": subprocess.Popen([str(bin_ / "tuoyu-subsidy"), "--listen", f"127.0.0.1:{sport}",
                                     "--metrics-listen", f"127.0.0.1:{smport}", "--vault-key-file", str(tmp / "vault.keys"),
                                     "--service-token-file", str(tmp / "subsidy.token"),
                                     "--peer-registry", f"127.0.0.1:{rport}", "--peer-inspection", f"127.0.0.1:{iport}",
                                     "--database-url", args.db.replace("postgres@", "tuoyu_subsidy@"), *common],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    }
    today = datetime.date.today()
    month = today.replace(day=1) - datetime.timedelta(days=1)  # last month
    earlier = month.replace(day=1) - datetime.timedelta(days=1)  # the month before
    try:
        wait_port(rport, procs["registry"])
        wait_port(iport, procs["inspection"])
        wait_port(sport, procs["subsidy"])
        env = dict(os.environ, TUOYU_REGISTRY_ADDR=f"127.0.0.1:{rport}", TUOYU_SUBSIDY_ADDR=f"127.0.0.1:{sport}",
                   TUOYU_TOKEN=token(bin_, keys, "registry.admin,subsidy.admin,subsidy.county-officer", "officer"))
        people = {r: token(bin_, keys, f"subsidy.{r}", f"bench-{r}")
                  for r in ("county-reviewer", "finance-approver", "treasurer")}

        def cli(*a, tok=None):
            e = dict(env)
            if tok:
                e["TUOYU_TOKEN"] = tok
            r = subprocess.run([str(bin_ / "tuoyu"), *a, "--timeout", "600"], env=e, capture_output=True, text=True,
                               cwd=ROOT)
            if r.returncode != 0:
                sys.exit(f"tuoyu {' '.join(a)}: {r.stderr}")
            return r.stdout

        cli("registry", "import-regions", "deploy/demo/regions.csv")
        cli("registry", "import", "--quiet", "deploy/demo/institutions.csv")
        cli("subsidy", "put-policy", "--year", str(month.year), "--region", "330500", "--enrolment-monthly", "300",
            "--reason", "bench")
        if earlier.year != month.year:
            cli("subsidy", "put-policy", "--year", str(earlier.year), "--region", "330500", "--enrolment-monthly", "300",
                "--reason", "bench")
        for year in {month.year, earlier.year}:
            for region in ("330500", "330502"):
                cli("subsidy", "put-budget", "--year", str(year), "--region", region, "--programme", "enrolment",
                    "--amount", "100000000")
        # The children: born 1–33 months before the earlier month, all local, spread over the institutions.
        rows = ["id_number,county_code,local_hukou,credit_code,start_on"]
        for n in range(args.children):
            born = earlier.replace(day=1) - datetime.timedelta(days=31 + (n * 7) % 960)
            rows.append(f"{resident_id(born, n // 137)},330502,yes,{INSTITUTIONS[n % 4]},"
                        f"{(earlier.replace(day=1) - datetime.timedelta(days=10)).isoformat()}")
        # Distinct numbers: the sequence changes every 137 rows, the birthday every row within them.
        assert len(set(r.split(",")[0] for r in rows)) == len(rows)
        (tmp / "children.csv").write_text("\n".join(rows) + "\n")
        # The institutions reach the subsidy through the registry's feed before the children enrol.
        for _ in range(300):
            r = subprocess.run(["psql", args.db, "-qAt", "-c",
                                "SELECT count(*) FROM subsidy.institution_view"], capture_output=True, text=True)
            if r.stdout.strip() == "20":
                break
            time.sleep(0.1)
        t = time.monotonic()
        cli("subsidy", "import-children", str(tmp / "children.csv"))
        import_s = time.monotonic() - t

        def month_end_to_end(m):
            steps = {}
            t0 = time.monotonic()
            out = cli("subsidy", "claim-month", "--programme", "enrolment", "--county", "330502", "--month",
                      m.strftime("%Y-%m"), "-o", "csv", "--no-headers")
            steps["claim"] = time.monotonic() - t0
            created = int(out.lstrip("\ufeff").split(",")[0])
            t1 = time.monotonic()
            ids = cli("subsidy", "applications", "--month", m.strftime("%Y-%m"), "--status", "submitted",
                      "--ids-only").strip().split(",")
            steps["list"] = time.monotonic() - t1
            batches = [ids[i:i + 1000] for i in range(0, len(ids), 1000)]
            t2 = time.monotonic()
            for b in batches:
                cli("subsidy", "review", ",".join(b), tok=people["county-reviewer"])
            steps["review"] = time.monotonic() - t2
            return created, ids, batches, steps, t0

        created, ids, batches, steps, t0 = month_end_to_end(month)
        t3 = time.monotonic()
        for b in batches:
            cli("subsidy", "approve", ",".join(b), tok=people["finance-approver"])
        steps["approve"] = time.monotonic() - t3
        t4 = time.monotonic()
        for k, b in enumerate(batches):
            for payer in ("city", "county"):
                cli("subsidy", "disburse", ",".join(b), "--payer", payer, "--reference",
                    f"{payer.upper()}-{month:%Y%m}-{k:03d}", tok=people["treasurer"])
        steps["disburse"] = time.monotonic() - t4
        total_s = time.monotonic() - t0
        balances = json.loads(cli("subsidy", "balances", "-o", "json"))
        assert int(balances["total_fen"]) == 0, balances
        paid = -sum(int(b["balance_fen"]) for b in balances["balances"] if b["account"] == "bank")
        assert paid == created * 30_000, (paid, created)

        # Another month's claims, reviewed; then approvals one a call from concurrent officers.
        created2, ids2, _, _, _ = month_end_to_end(earlier)
        sys.path.insert(0, str(tmp))
        from grpc_tools import protoc
        include = pathlib.Path(protoc.__file__).parent / "_proto"
        protos = ["tuoyu/common/v1/common.proto", "tuoyu/common/v1/limits.proto", "tuoyu/subsidy/v1/subsidy.proto"]
        assert protoc.main(["protoc", f"-I{ROOT / 'protos'}", f"-I{include}", f"--python_out={tmp}",
                            f"--grpc_python_out={tmp}"] + [str(ROOT / "protos" / x) for x in protos]) == 0
        import grpc
        from tuoyu.subsidy.v1 import subsidy_pb2 as sp, subsidy_pb2_grpc as sp_grpc
        officers = [token(bin_, keys, "subsidy.finance-approver", f"officer-{k}") for k in range(args.officers)]
        queue = list(map(int, ids2))
        lock = __import__("threading").Lock()
        end = time.monotonic() + args.duration

        def officer(k):
            ch = grpc.insecure_channel(f"127.0.0.1:{sport}")
            stub = sp_grpc.SubsidyStub(ch)
            md = (("authorization", f"Bearer {officers[k]}"),)
            lat = []
            while time.monotonic() < end:
                with lock:
                    if not queue:
                        break
                    app = queue.pop()
                s = time.monotonic()
                stub.ApproveApplications(sp.ApproveApplicationsRequest(request_id=f"ap-{app}", application_ids=[app]),
                                         metadata=md, timeout=30)
                lat.append(time.monotonic() - s)
            ch.close()
            return lat

        before = cpu_seconds(procs["subsidy"].pid)
        t5 = time.monotonic()
        lat = []
        with concurrent.futures.ThreadPoolExecutor(args.officers) as pool:
            for f in [pool.submit(officer, k) for k in range(args.officers)]:
                lat += f.result()
        approve_s = time.monotonic() - t5
        cpu = cpu_seconds(procs["subsidy"].pid) - before
        lat.sort()
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=15)

    subprocess.run(["pgbench", "-q", "-i", "-s", "10", args.db], check=True, capture_output=True)
    tpcb = tpcb_like(args.db, args.officers, args.duration)
    rows_total = created
    print(f"\nSubsidy: {args.children} children of 330502 at 4 filed 普惠 institutions; tuoyu-registry, tuoyu-inspection, "
          f"tuoyu-subsidy (pools of 16) and one Postgres 15 on this machine's 2 cores (not pinned).\n")
    print(f"import-children: {args.children} rows in {import_s:.1f} s ({args.children / import_s:.0f} rows/s)")
    print(f"a month's enrolment claims, {rows_total} children, through the CLI in batches of 1,000: "
          f"{total_s:.1f} s end to end ({rows_total / total_s:.0f} claims/s)")
    for k in ("claim", "list", "review", "approve", "disburse"):
        print(f"  {k:<9} {steps[k]:6.2f} s")
    n = len(lat)
    ours = n / approve_s
    print(f"\napprovals one per call, {args.officers} concurrent officers (grpcio threads, {created2} reviewed claims): "
          f"{ours:.0f} approvals/s, p50 {statistics.median(lat) * 1000:.1f} ms, p99 {lat[int(n * 0.99) - 1] * 1000:.1f} ms, "
          f"service CPU {cpu / max(n, 1) * 1e6:.0f} µs per approval")
    print(f"pgbench -b tpcb-like -M prepared, {args.officers} clients, same server: {tpcb[0]:.0f} TPS "
          f"(Postgres CPU {tpcb[1]:.0f} µs per transaction)")
    print(f"ratio approvals/s ÷ pgbench TPCB TPS: {ours / tpcb[0]:.2f}")


if __name__ == "__main__":
    main()
