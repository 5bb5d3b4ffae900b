"""The subsidy service with the registry and inspection, all live processes on a database of their
own, following each other's change feeds with their service tokens, driven through the built
`tuoyu` CLI and grpcio: the issue's walkthrough (an accepted batch to a disbursed award, a hold
and its release, a payer's statement reconciled), a retried disbursement after the service died
between its effect and its reply, bad input, and every request field at and past its bound."""
import base64
import datetime
import json
import os
import subprocess
import time

import grpc
import pytest

from conftest import BIN, ROOT, Server, free_port, service_database


def city_today() -> datetime.date:
    """Today in the city (China Standard Time, UTC+8, no daylight saving), as the services count
    days (ServiceKit's LocalDate.today): from 16:00 UTC it is already tomorrow there."""
    return datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date()


DB = os.environ.get("TUOYU_TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(DB is None, reason="needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)")

from tuoyu.subsidy.v1 import subsidy_pb2 as sp, subsidy_pb2_grpc as sp_grpc  # noqa: E402

KEYS = ROOT / ".run" / "test-keys-subsidy"
HEALTH_ROLES = ("registry.admin,registry.officer,registry.approver,registration,inspection.admin,"
                "inspection.county-inspector,inspection.county-acceptor,inspection.city-reviewer,subsidy.admin,leader")
CODE = "52330502MJ0000003Q"  # 吴兴区托育中心3号, filed 普惠, 66 seats


def resident_id(region, born, seq):
    """A resident ID number (GB 11643) for a region, a date of birth and a sequence, with its check character."""
    digits = f"{region}{born:%Y%m%d}{seq % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return digits + "10X98765432"[sum(int(d) * w for d, w in zip(digits, weights)) % 11]


def token(roles, subject="pytest", institution=None, region=None, department="finance"):
    args = [str(BIN / "tuoyu-token"), "issue", "--key", str(KEYS / "private.pem"), "--subject", subject,
            "--department", department, "--roles", roles, "--ttl=900"]
    if institution:
        args += ["--institution", institution]
    if region:
        args += ["--region", region]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def cli(env, *args, tok=None):
    e = dict(env)
    if tok:
        e["TUOYU_TOKEN"] = tok
    return subprocess.run([str(BIN / "tuoyu"), *args], env=e, cwd=ROOT, capture_output=True, text=True, timeout=60)


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def subsidy_server(db, sport, rport, iport, extra_env=None, log=None):
    args = [str(BIN / "tuoyu-subsidy"), "--listen", f"127.0.0.1:{sport}",
            "--database-url", db.replace("postgres@", "tuoyu_subsidy@"), "--health-interval-ms", "100",
            "--metrics-listen", "off", "--token-public-key", str(KEYS / "public.pem"), "--log-level", "debug",
            "--vault-key-file", str(KEYS / "vault.keys"), "--service-token-file", str(KEYS / "subsidy.token"),
            "--peer-registry", f"127.0.0.1:{rport}", "--peer-inspection", f"127.0.0.1:{iport}"]
    env = dict(os.environ, **(extra_env or {}))
    if log is None:
        return Server(args, sport, env=env)
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    from conftest import wait_for_port
    wait_for_port(sport, proc)
    return proc


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    name = "tuoyu_subsidy_test"
    db = service_database(name)
    subprocess.run([str(BIN / "tuoyu-token"), "keygen", "--out", str(KEYS)], check=True, capture_output=True)
    (KEYS / "vault.keys").write_text("sb1:" + base64.b64encode(os.urandom(32)).decode() + "\n")
    for svc in ("registry", "inspection", "subsidy"):
        (KEYS / f"{svc}.token").write_text(token("service", subject=svc, department=svc))
    rport, iport, sport = free_port(), free_port(), free_port()
    common = ["--health-interval-ms", "100", "--metrics-listen", "off", "--token-public-key", str(KEYS / "public.pem")]
    registry = Server([str(BIN / "tuoyu-registry"), "--listen", f"127.0.0.1:{rport}",
                       "--database-url", db.replace("postgres@", "tuoyu_registry@"), *common,
                       "--service-token-file", str(KEYS / "registry.token"), "--peer-inspection", f"127.0.0.1:{iport}"],
                      rport)
    inspection = Server([str(BIN / "tuoyu-inspection"), "--listen", f"127.0.0.1:{iport}",
                         "--database-url", db.replace("postgres@", "tuoyu_inspection@"), *common,
                         "--service-token-file", str(KEYS / "inspection.token"), "--peer-registry", f"127.0.0.1:{rport}"],
                        iport)
    log = open(tmp_path_factory.mktemp("sb") / "subsidy.log", "w")
    subsidy = subsidy_server(db, sport, rport, iport, log=log)
    env = dict(os.environ, TUOYU_REGISTRY_ADDR=f"127.0.0.1:{rport}", TUOYU_INSPECTION_ADDR=f"127.0.0.1:{iport}",
               TUOYU_SUBSIDY_ADDR=f"127.0.0.1:{sport}", TUOYU_TOKEN=token(HEALTH_ROLES, department="health"))
    for _ in range(100):
        if cli(env, "registry", "rules").returncode == 0 and cli(env, "subsidy", "holds").returncode == 0:
            break
        time.sleep(0.1)
    ok(cli(env, "registry", "import-regions", "deploy/demo/regions.csv"))
    ok(cli(env, "registry", "import", "--quiet", "deploy/demo/institutions.csv"))
    for _ in range(200):
        if cli(env, "inspection", "grade", "91330523MA0000020D").returncode == 0:
            break
        time.sleep(0.1)
    state = {"env": env, "db": db, "ports": (rport, iport, sport), "subsidy": subsidy, "log": log}
    yield state
    registry.stop()
    inspection.stop()
    proc = state["subsidy"]
    (proc.stop() if isinstance(proc, Server) else (proc.terminate(), proc.wait(timeout=15)))
    log.close()


def people():
    """Each role's token: distinct officers, as maker-checker needs."""
    return {
        "admin": token("subsidy.admin", subject="fin-admin"),
        "officer": token("subsidy.county-officer", subject="wx-officer", region="330502"),
        "reviewer": token("subsidy.county-reviewer", subject="wx-reviewer", region="330502"),
        "approver": token("subsidy.finance-approver", subject="fin-approver"),
        "treasurer": token("subsidy.treasurer", subject="fin-treasurer"),
    }


def wait_for(fn, what, tries=200):
    for _ in range(tries):
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def accept(env, seats, year="2025"):
    """An acceptance evaluation, the county accepts `seats`, the city confirms: the award's source."""
    evaluation = json.loads(ok(cli(env, "inspection", "record", "--at", CODE, "--level", "county",
                                   "--kind", "acceptance-evaluation", "--date", "2025-06-03", "--inspector", "李四",
                                   "--pass-all", "--finalise", "-o", "json")))
    acc = json.loads(ok(cli(env, "inspection", "accept", "--inspection", str(evaluation["inspection_id"]),
                            "--year", year, "--seats", str(seats), "-o", "json")))
    ok(cli(env, "inspection", "confirm", str(acc["acceptance_id"]), "--seats", str(seats)))
    return acc["acceptance_id"]


def award_of(env, acceptance, tok):
    def find():
        apps = json.loads(ok(cli(env, "subsidy", "applications", "--programme", "seat-award", "-o", "json", tok=tok)))
        return [a for a in apps if int(a["acceptance_id"]) == int(acceptance)]
    return wait_for(find, f"the award of acceptance {acceptance}")[0]


def test_a_newcomer_follows_an_accepted_batch_to_a_disbursed_award_holds_it_and_reconciles(city):
    env = city["env"]
    p = people()
    for region in ("330500", "330502"):
        ok(cli(env, "subsidy", "put-budget", "--year", "2025", "--region", region, "--programme", "seat-award",
               "--amount", "500000", tok=p["admin"]))
    acceptance = accept(env, 50)
    # The award appears by itself from inspection's feed: 50 seats × 2,000 yuan, split 4 : 6.
    award = award_of(env, acceptance, p["reviewer"])
    assert award["seats"] == 50 and award["gross_yuan"] == "100000.00" and award["status"] == "submitted"
    assert [(s["payer"], s["amount_yuan"]) for s in award["shares"]] == [("city", "40000.00"), ("county", "60000.00")]
    app = str(award["application_id"])
    # Not approved by its reviewer (maker-checker, on the wire).
    both = token("subsidy.county-reviewer,subsidy.finance-approver", subject="wx-both")
    ok(cli(env, "subsidy", "review", app, tok=both))
    refused = cli(env, "subsidy", "approve", app, tok=both)
    assert refused.returncode == 1 and "approval.maker-checker" in refused.stderr
    ok(cli(env, "subsidy", "approve", app, tok=p["approver"]))
    # Each payer pays its share with its own reference; a retry of the same request pays once.
    ok(cli(env, "subsidy", "disburse", app, "--payer", "city", "--reference", "HZCZ-2025-0001", "--request-id", "pay-city-1",
           tok=p["treasurer"]))
    again = json.loads(ok(cli(env, "subsidy", "disburse", app, "--payer", "city", "--reference", "HZCZ-2025-0001",
                              "--request-id", "pay-city-1", "-o", "json", tok=p["treasurer"])))
    assert again["amount_yuan"] == "40000.00"
    twice = cli(env, "subsidy", "disburse", app, "--payer", "city", "--reference", "HZCZ-2025-0002", tok=p["treasurer"])
    assert twice.returncode == 1 and "payment.once" in twice.stderr
    ok(cli(env, "subsidy", "disburse", app, "--payer", "county", "--reference", "WXCZ-2025-0001", tok=p["treasurer"]))
    done = json.loads(ok(cli(env, "subsidy", "application", app, "-o", "json", tok=p["treasurer"])))
    assert done["status"] == "disbursed"
    # The ledger: the city's and the county's shares, each paid out; every entry sums to zero.
    balances = json.loads(ok(cli(env, "subsidy", "balances", "-o", "json", tok=p["treasurer"])))
    assert int(balances["total_fen"]) == 0
    bank = {(b["payer"], b["region_code"]): int(b["balance_fen"]) for b in balances["balances"] if b["account"] == "bank"}
    assert bank == {("city", "330500"): -4_000_000, ("county", "330502"): -6_000_000}
    ledger = json.loads(ok(cli(env, "subsidy", "ledger", "--application", app, "-o", "json", tok=p["treasurer"])))
    assert sorted(int(e["amount_fen"]) for e in ledger if e["account"] == "expense") == [4_000_000, 6_000_000]
    assert sorted(int(e["amount_fen"]) for e in ledger if e["account"] == "bank") == [-6_000_000, -4_000_000]

    # A second batch pending; a critical finding at the institution holds it (and the registry suspends).
    second = award_of(env, accept(env, 10), p["reviewer"])
    app2 = str(second["application_id"])
    ok(cli(env, "subsidy", "review", app2, tok=p["reviewer"]))
    inspection = json.loads(ok(cli(env, "inspection", "record", "--at", CODE, "--level", "county", "--kind",
                                   "routine-patrol", "--date", "2025-06-05", "--inspector", "张三", "--pass-all",
                                   "--fail", "FIRE-01=疏散通道堵塞", "--finalise", "-o", "json")))
    held = wait_for(lambda: json.loads(ok(cli(env, "subsidy", "holds", "--active-only", "-o", "json", tok=p["approver"]))),
                    "the hold")
    assert held[0]["credit_code"] == CODE and int(held[0]["inspection_id"]) == int(inspection["inspection_id"])
    assert json.loads(ok(cli(env, "subsidy", "application", app2, "-o", "json", tok=p["approver"])))["on_hold"] is True
    refused = cli(env, "subsidy", "approve", app2, tok=p["approver"])
    assert refused.returncode == 1 and "payment.on-hold" in refused.stderr
    report = json.loads(ok(cli(env, "subsidy", "report", "--year", "2025", "-o", "json", tok=p["approver"])))
    assert sorted(r["held_yuan"] for r in report if r["held_yuan"] != "0.00") == ["12000.00", "8000.00"]
    # The rectification verified: released (and the registry's approver reinstates the institution).
    orders = json.loads(ok(cli(env, "inspection", "orders", "--at", CODE, "-o", "json")))
    fire = next(o for o in orders if o["item_code"] == "FIRE-01" and o["inspection_id"] == inspection["inspection_id"])
    own = token("inspection.institution", subject="boss", institution=CODE, department="health")
    ok(cli(env, "inspection", "report", str(fire["order_id"]), "--date", "2025-06-06", tok=own))
    ok(cli(env, "inspection", "verify", str(fire["order_id"]), "--date", "2025-06-07"))
    wait_for(lambda: not json.loads(ok(cli(env, "subsidy", "holds", "--active-only", "-o", "json", tok=p["approver"]))),
             "the release")
    # Still suspended in the registry: the registry is asked at approval, and refuses.
    refused = cli(env, "subsidy", "approve", app2, tok=p["approver"])
    assert refused.returncode == 1 and "award.institution-filed" in refused.stderr, refused.stderr
    wait_for(lambda: json.loads(ok(cli(env, "registry", "get", CODE, "-o", "json")))["status"] == "suspended", "suspension")
    ok(cli(env, "registry", "reinstate", CODE))
    ok(cli(env, "subsidy", "approve", app2, tok=p["approver"]))

    # The county's statement: one payment matched, one missing (not yet on it), one unexpected.
    ok(cli(env, "subsidy", "disburse", app2, "--payer", "county", "--reference", "WXCZ-2025-0002", tok=p["treasurer"]))
    today = city_today().isoformat()
    statement = ROOT / ".run" / "test-statement.csv"
    statement.write_text("reference,amount,paid_on\nWXCZ-2025-0001,60000,%s\nWXCZ-2025-9999,123.45,%s\n" % (today, today))
    r = cli(env, "subsidy", "reconcile", str(statement), "--payer", "county", "--region", "330502", "--from", "2025-01-01",
            "--to", today, "-o", "json", tok=p["treasurer"])
    assert r.returncode == 2, r.stderr
    got = json.loads(r.stdout)
    assert [m["reference"] for m in got["matched"]] == ["WXCZ-2025-0001"]
    assert [m["reference"] for m in got["missing"]] == ["WXCZ-2025-0002"]
    assert [m["reference"] for m in got["unexpected"]] == ["WXCZ-2025-9999"]
    # The city's statement matches in full.
    statement.write_text("reference,amount\nHZCZ-2025-0001,40000.00\n")
    table = ok(cli(env, "subsidy", "reconcile", str(statement), "--payer", "city", "--region", "330500", "--from",
                   "2025-01-01", "--to", today, tok=p["treasurer"]))
    assert "1 matched, 0 missing, 0 unexpected" in table


def test_a_disbursement_retried_after_a_crash_between_effect_and_reply_pays_once(city):
    env, db = city["env"], city["db"]
    rport, iport, sport = city["ports"]
    p = people()
    for region in ("330500", "330502"):
        ok(cli(env, "subsidy", "put-budget", "--year", "2025", "--region", region, "--programme", "seat-award",
               "--amount", "500000", tok=p["admin"]))
    award = award_of(env, accept(env, 5), p["reviewer"])
    app = award["application_id"]
    ok(cli(env, "subsidy", "review", str(app), tok=p["reviewer"]))
    ok(cli(env, "subsidy", "approve", str(app), tok=p["approver"]))
    # The service, armed to die when a disbursement has committed and before it replies.
    proc = city["subsidy"]
    (proc.stop() if isinstance(proc, Server) else (proc.terminate(), proc.wait(timeout=15)))
    armed = subsidy_server(db, sport, rport, iport,
                           extra_env={"TUOYU_FAILPOINT": "after-commit:/tuoyu.subsidy.v1.Subsidy/Disburse"})
    request = sp.DisburseRequest(request_id="crash-pay-1", application_ids=[app], payer=sp.PAYER_COUNTY,
                                 reference="WXCZ-CRASH-1")
    md = (("authorization", f"Bearer {p['treasurer']}"),)
    with grpc.insecure_channel(f"127.0.0.1:{sport}") as ch:
        with pytest.raises(grpc.RpcError) as e:
            sp_grpc.SubsidyStub(ch).Disburse(request, metadata=md, timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    armed.proc.wait(timeout=10)
    assert armed.proc.returncode == 137
    city["subsidy"] = subsidy_server(db, sport, rport, iport, log=city["log"])
    # The effect committed; the retry with the same request id returns it without paying again.
    with grpc.insecure_channel(f"127.0.0.1:{sport}") as ch:
        got = sp_grpc.SubsidyStub(ch).Disburse(request, metadata=md, timeout=10)
    assert got.reference == "WXCZ-CRASH-1" and got.amount.fen == 600_000
    count = subprocess.run(["psql", db, "-qAt", "-c",
                            "SELECT count(*) FROM subsidy.payment WHERE reference = 'WXCZ-CRASH-1'"],
                           check=True, capture_output=True, text=True).stdout.strip()
    assert count == "1"


def test_bad_input_is_refused_and_changes_nothing(city):
    env, db = city["env"], city["db"]
    _, _, sport = city["ports"]
    p = people()

    def children():
        return subprocess.run(["psql", db, "-qAt", "-c", "SELECT count(*) FROM subsidy.child"],
                              check=True, capture_output=True, text=True).stdout.strip()
    before = children()
    with grpc.insecure_channel(f"127.0.0.1:{sport}") as ch:
        stub = sp_grpc.SubsidyStub(ch)
        scoped = (("authorization", f"Bearer {p['officer']}"),)
        citywide = (("authorization", f"Bearer {token('subsidy.county-officer', subject='city-officer')}"),)
        cases = [
            (sp.RegisterChildRequest(request_id="b1", id_number="330502202401050011", county_code="330502"),
             "INVALID_ARGUMENT", "id-number.valid", scoped),
            (sp.RegisterChildRequest(request_id="b2", id_number=resident_id("330502", datetime.date(2024, 1, 5), 1), county_code="330599"),
             "INVALID_ARGUMENT", "region.known", citywide),
            (sp.RegisterChildRequest(request_id="b3", id_number="33050220240105001\x00", county_code="330502"),
             "INVALID_ARGUMENT", "limits.", scoped),
            (sp.RegisterChildRequest(request_id="b4", id_number=resident_id("330502", datetime.date(2024, 1, 5), 1), county_code="330503"),
             "NOT_FOUND", "access.scope", scoped),
        ]
        for req, code, rule, md in cases:
            with pytest.raises(grpc.RpcError) as e:
                stub.RegisterChild(req, metadata=md, timeout=10)
            assert e.value.code().name == code and rule in (e.value.details() or ""), (req, e.value)
            assert req.id_number not in (e.value.details() or "")
        # No token; an oversized message.
        with pytest.raises(grpc.RpcError) as e:
            stub.GetReport(sp.GetReportRequest(year=2025), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            stub.Reconcile(sp.ReconcileRequest(request_id="big", payer=sp.PAYER_CITY, region_code="330500",
                                               lines=[sp.StatementLine(reference="R" * 60, amount={"fen": 1})] * 70000),
                           metadata=(("authorization", f"Bearer {p['treasurer']}"),), timeout=20)
        assert e.value.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT)
        # A budget below what is committed; the shares that cannot split.
        with pytest.raises(grpc.RpcError) as e:
            stub.PutPolicy(sp.PutPolicyRequest(request_id="z", year=2025, region_code="330500", reason="x"),
                           metadata=(("authorization", f"Bearer {p['admin']}"),), timeout=10)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "policy.shares" in e.value.details()
    assert children() == before


def test_no_id_number_in_the_schema_the_log_or_default_output(city):
    env, db = city["env"], city["db"]
    p = people()
    number = resident_id("330502", datetime.date(2024, 5, 1), 1)
    other = resident_id("330502", datetime.date(2024, 5, 1), 3)
    out = ok(cli(env, "subsidy", "register-child", "--id-number", number, "--county", "330502", "--local-hukou",
                 tok=p["officer"]))
    assert number not in out and "3305" in out
    child = json.loads(ok(cli(env, "subsidy", "register-child", "--id-number", other, "--county", "330502",
                              "-o", "json", tok=p["officer"])))
    assert "*" in child["id_number"]
    dump = subprocess.run(["pg_dump", "--data-only", "--schema", "subsidy", db], check=True, capture_output=True,
                          text=True).stdout
    assert number not in dump and other not in dump
    city["log"].flush()
    log = open(city["log"].name, encoding="utf-8", errors="replace").read()
    assert log and number not in log and other not in log


def test_children_imported_and_claimed_for_the_month(city):
    env = city["env"]
    p = people()
    ok(cli(env, "subsidy", "put-policy", "--year", str(city_today().year), "--region", "330500",
           "--enrolment-monthly", "300", "--milk-monthly", "100", "--reason", "市级托育补助", tok=p["admin"]))
    # Children born within the last three years (computed from today), enrolled at a filed 普惠 institution.
    today = city_today()
    rows = ["id_number,county_code,local_hukou,hardship,credit_code,start_on"]
    for i in range(12):
        born = today.replace(day=1) - datetime.timedelta(days=200 + 30 * i)
        rows.append(f"{resident_id('330502', born, 500 + i)},330502,{'yes' if i % 4 else 'no'},{'yes' if i == 3 else 'no'},"
                    f"91330502MA0000004A,{(today.replace(day=1) - datetime.timedelta(days=60)).isoformat()}")
    rows.append("330502202401050019,330502,yes,no,,")  # a bad check character: refused, the rest go on
    path = ROOT / ".run" / "test-children.csv"
    path.write_text("\n".join(rows) + "\n")
    r = cli(env, "subsidy", "import-children", str(path), tok=p["officer"])
    assert r.returncode == 2 and "imported 12 of 13 rows" in r.stdout, r.stdout + r.stderr
    assert "330502202401050019" not in r.stdout
    # Another county's officer cannot reach these children by importing their numbers.
    other = token("subsidy.county-officer", subject="nx-officer", region="330503")
    (ROOT / ".run" / "test-children-other.csv").write_text(
        "id_number,county_code,local_hukou\n" + rows[1].split(",")[0] + ",330503,yes\n")
    r = cli(env, "subsidy", "import-children", str(ROOT / ".run" / "test-children-other.csv"), tok=other)
    assert r.returncode == 2 and "child.known" in r.stdout, r.stdout + r.stderr
    month = (today.replace(day=1) - datetime.timedelta(days=1)).strftime("%Y-%m")
    got = json.loads(ok(cli(env, "subsidy", "claim-month", "--programme", "enrolment", "--county", "330502", "--month",
                            month, "-o", "json", tok=p["officer"])))
    assert got["created"] == 9 and got["amount_yuan"] == "2700.00"  # the 9 local children
    again = json.loads(ok(cli(env, "subsidy", "claim-month", "--programme", "enrolment", "--county", "330502",
                              "--month", month, "-o", "json", tok=p["officer"])))
    assert again["created"] == 0 and again["already_claimed"] == 9


# Hostile input, generated from the contract's limits as for the other services.
from test_hostile_input import field_cases  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402

SB_SERVICE = sp.DESCRIPTOR.services_by_name["Subsidy"]
SB_CASES = [(m.name, p, s, okay, label) for m in SB_SERVICE.methods if not m.client_streaming
            for p, s, okay, label in field_cases(m.input_type)]
ALL_ROLES = ("subsidy.admin,subsidy.county-officer,subsidy.county-reviewer,subsidy.finance-approver,"
             "subsidy.treasurer,subsidy.viewer")


def test_every_subsidy_request_field_declares_limits():
    assert {c[0] for c in SB_CASES} == {m.name for m in SB_SERVICE.methods if m.input_type.fields and not m.client_streaming}
    assert len(SB_CASES) > 200


@pytest.mark.parametrize("method,path,setter,within,label", SB_CASES, ids=[f"{c[0]}:{c[1]}:{c[4]}" for c in SB_CASES])
def test_subsidy_field_at_and_past_its_bound(city, method, path, setter, within, label):
    db = city["db"]
    _, _, sport = city["ports"]
    desc = SB_SERVICE.methods_by_name[method]
    request = getattr(sp, desc.input_type.name)()
    if "request_id" in desc.input_type.fields_by_name and path != "request_id":
        request.request_id = f"hostile-{time.time_ns()}"
    setter(request)

    def rows():
        return subprocess.run(["psql", db, "-qAt", "-c",
                               "SELECT (SELECT count(*) FROM subsidy.application) || '/' || (SELECT count(*) FROM subsidy.child)"
                               " || '/' || (SELECT count(*) FROM subsidy.ledger_entry) || '/' || "
                               "(SELECT count(*) FROM subsidy.policy) || '/' || (SELECT count(*) FROM subsidy.budget)"],
                              check=True, capture_output=True, text=True).stdout.strip()
    before = None if within else rows()
    with grpc.insecure_channel(f"127.0.0.1:{sport}") as ch:
        md = (("authorization", f"Bearer {token(ALL_ROLES, subject='hostile')}"),)
        try:
            getattr(sp_grpc.SubsidyStub(ch), method)(request, metadata=md, timeout=10)
            code, message, fields = "OK", "", {}
        except grpc.RpcError as e:
            code, message, fields = e.code().name, e.details() or "", {}
            raw = dict(e.trailing_metadata() or ()).get("grpc-status-details-bin")
            if raw:
                for d in status_pb2.Status.FromString(raw).details:
                    bad = error_details_pb2.BadRequest()
                    if d.Unpack(bad):
                        for v in bad.field_violations:
                            fields.setdefault(v.field, v.description)
        if within:
            assert "(rule limits." not in fields.get(path, ""), f"{label}: {code} {fields}"
            assert code not in ("INTERNAL", "UNKNOWN"), f"{label}: {code} {message}"
        else:
            assert code == "INVALID_ARGUMENT" and "(rule limits." in fields.get(path, ""), f"{label}: {code} {message} {fields}"
            assert rows() == before
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        assert health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1
