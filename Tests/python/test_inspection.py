"""The inspection service with the registry, both live processes on a database of their own, each
following the other's change feed with its service token (inspection learns institutions from the
registry; the registry suspends on inspection's critical findings), driven through the built
`tuoyu` CLI and grpcio: the issue's walkthrough, the rights of each role, and the province export
against an independent computation."""
import csv
import json
import os
import re
import subprocess
import time

import grpc
import pytest

from conftest import BIN, ROOT, Server, free_port, service_database

DB = os.environ.get("TUOYU_TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(DB is None, reason="needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)")

from tuoyu.inspection.v1 import inspection_pb2 as ip, inspection_pb2_grpc as ip_grpc  # noqa: E402

KEYS = ROOT / ".run" / "test-keys-inspection"
ROLES = ("registry.admin,registry.officer,registry.approver,registration,inspection.admin,inspection.city-inspector,"
         "inspection.county-inspector,inspection.county-acceptor,inspection.city-reviewer,leader")


def token(roles, subject="pytest", institution=None, region=None):
    args = [str(BIN / "tuoyu-token"), "issue", "--key", str(KEYS / "private.pem"), "--subject", subject,
            "--department", "health", "--roles", roles, "--ttl=900"]
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


@pytest.fixture(scope="module")
def health():
    name = "tuoyu_inspection_test"
    db = service_database(name)
    subprocess.run([str(BIN / "tuoyu-token"), "keygen", "--out", str(KEYS)], check=True, capture_output=True)
    for svc in ("registry", "inspection"):
        (KEYS / f"{svc}.token").write_text(token("service", subject=svc))
    rport, iport = free_port(), free_port()
    common = ["--health-interval-ms", "100", "--metrics-listen", "off", "--token-public-key", str(KEYS / "public.pem")]
    registry = Server([str(BIN / "tuoyu-registry"), "--listen", f"127.0.0.1:{rport}",
                       "--database-url", db.replace("postgres@", "tuoyu_registry@"), *common,
                       "--service-token-file", str(KEYS / "registry.token"), "--peer-inspection", f"127.0.0.1:{iport}"],
                      rport)
    inspection = Server([str(BIN / "tuoyu-inspection"), "--listen", f"127.0.0.1:{iport}",
                         "--database-url", db.replace("postgres@", "tuoyu_inspection@"), *common,
                         "--service-token-file", str(KEYS / "inspection.token"), "--peer-registry", f"127.0.0.1:{rport}"],
                        iport)
    env = dict(os.environ, TUOYU_REGISTRY_ADDR=f"127.0.0.1:{rport}", TUOYU_INSPECTION_ADDR=f"127.0.0.1:{iport}",
               TUOYU_TOKEN=token(ROLES))
    for _ in range(100):
        if cli(env, "registry", "rules").returncode == 0 and cli(env, "inspection", "checklist").returncode == 0:
            break
        time.sleep(0.1)
    ok(cli(env, "registry", "import-regions", "deploy/demo/regions.csv"))
    ok(cli(env, "registry", "import", "--quiet", "deploy/demo/institutions.csv"))
    for _ in range(200):
        if cli(env, "inspection", "grade", "91330523MA0000020D").returncode == 0:
            break
        time.sleep(0.1)
    yield env, f"127.0.0.1:{iport}", db
    registry.stop()
    inspection.stop()


def status(env, code):
    return json.loads(ok(cli(env, "registry", "get", code, "-o", "json")))["status"]


def test_a_newcomer_inspects_suspends_rectifies_grades_and_accepts_seats(health):
    env, _, _ = health
    code = "91330502MA00000011"
    assert status(env, code) == "filed"
    out = ok(cli(env, "inspection", "record", "--at", code, "--level", "county", "--kind", "routine-patrol",
                 "--date", "2025-06-02", "--inspector", "张三", "--co-department", "fire", "--pass-all",
                 "--fail", "FIRE-01=疏散通道堵塞", "--fail", "REC-01", "--finalise", "-o", "json"))
    inspection = json.loads(out)
    assert inspection["finalised"] and inspection["critical_failures"] == 1 and inspection["minor_failures"] == 1
    # The registry suspends it, through the feed, once.
    for _ in range(100):
        if status(env, code) == "suspended":
            break
        time.sleep(0.1)
    got = json.loads(ok(cli(env, "registry", "get", code, "-o", "json")))
    assert got["status"] == "suspended" and f"inspection {inspection['inspection_id']}" in got["reasons"][0]
    history = ok(cli(env, "registry", "history", code, "-o", "json"))
    assert history.count('"suspended"') >= 1
    # A finalised inspection does not change.
    late = cli(env, "inspection", "results", str(inspection["inspection_id"]), "--pass", "FIRE-01")
    assert late.returncode == 1 and "inspection.finalised" in late.stderr
    # Orders: the critical one due in 3 days, overdue after; reported, verified.
    orders = json.loads(ok(cli(env, "inspection", "orders", "--at", code, "--as-of", "2025-06-06", "-o", "json")))
    fire = next(o for o in orders if o["item_code"] == "FIRE-01")
    assert fire["deadline"] == "2025-06-05" and fire["overdue"] is True
    rec = next(o for o in orders if o["item_code"] == "REC-01")
    assert rec["deadline"] == "2025-07-02" and rec["overdue"] is False
    own = token("inspection.institution", subject="boss", institution=code)
    ok(cli(env, "inspection", "report", str(fire["order_id"]), "--date", "2025-06-04", tok=own))
    denied = cli(env, "inspection", "verify", str(fire["order_id"]), tok=own)
    assert denied.returncode == 4
    ok(cli(env, "inspection", "verify", str(fire["order_id"]), "--date", "2025-06-05"))
    # Reinstatement stays the registry approver's decision.
    ok(cli(env, "registry", "reinstate", code))
    assert status(env, code) == "filed"
    # The public listing shows the latest grade the inspection service published.
    for _ in range(100):
        public = json.loads(ok(cli(env, "registry", "public", "--region", "330502", "-o", "json")))
        mine = [p for p in public if p["filing_number"] == got["filing_number"]]
        if mine and mine[0]["latest_grade"]:
            break
        time.sleep(0.1)
    assert mine and mine[0]["latest_grade"] in ("A", "B", "C", "D"), mine
    grade = json.loads(ok(cli(env, "inspection", "grade", code, "--as-of", "2025-06-10", "-o", "json")))
    assert grade["score"] == 78 and grade["grade"] == "C"  # 100 − 20 (critical) − 2 (minor); capped at C
    # New seats: an acceptance evaluation, the county accepts, the city confirms or adjusts.
    evaluation = json.loads(ok(cli(env, "inspection", "record", "--at", "91330502MA00000024", "--level", "county",
                                   "--kind", "acceptance-evaluation", "--date", "2025-06-03", "--inspector", "李四",
                                   "--pass-all", "--finalise", "-o", "json")))
    acc = json.loads(ok(cli(env, "inspection", "accept", "--inspection", str(evaluation["inspection_id"]), "--year", "2025",
                            "--seats", "20", "-o", "json")))
    no_reason = cli(env, "inspection", "confirm", str(acc["acceptance_id"]), "--seats", "15")
    assert no_reason.returncode == 1 and "acceptance.adjust-reason" in no_reason.stderr
    ok(cli(env, "inspection", "confirm", str(acc["acceptance_id"]), "--seats", "15", "--reason", "一个班未达标"))
    audit = ok(cli(env, "audit", "--service", "inspection", "--target", f"acceptances/{acc['acceptance_id']}", "-o", "json",
                   tok=token("auditor")))
    assert "ConfirmAcceptance" in audit


def test_each_role_exactly_its_rights(health):
    env, target, _ = health
    code = "52330503MJ0000006G"
    township = token("inspection.township-inspector", subject="township-1")
    r = cli(env, "inspection", "record", "--at", code, "--level", "county", "--kind", "routine-patrol", "--inspector", "王",
            "--pass-all", tok=township)
    assert r.returncode == 4 and "inspection.level-role" in r.stderr, r.stderr
    ok(cli(env, "inspection", "record", "--at", code, "--level", "township", "--kind", "routine-patrol", "--inspector", "王",
           "--pass-all", "--finalise", tok=township))
    evaluation = json.loads(ok(cli(env, "inspection", "record", "--at", code, "--level", "county", "--kind",
                                   "acceptance-evaluation", "--inspector", "李", "--pass-all", "--finalise", "-o", "json")))
    acc = json.loads(ok(cli(env, "inspection", "accept", "--inspection", str(evaluation["inspection_id"]), "--year", "2025",
                            "--seats", "10", "-o", "json")))
    # Not 普惠: its seats are not accepted for the task.
    plain = json.loads(ok(cli(env, "inspection", "record", "--at", "91330503MA0000005U", "--level", "county", "--kind",
                              "acceptance-evaluation", "--inspector", "李", "--pass-all", "--finalise", "-o", "json")))
    r = cli(env, "inspection", "accept", "--inspection", str(plain["inspection_id"]), "--year", "2025", "--seats", "10")
    assert r.returncode == 1 and "acceptance.inclusive" in r.stderr, r.stderr
    for who in (township, token("inspection.county-acceptor,inspection.county-inspector", subject="county-1")):
        r = cli(env, "inspection", "confirm", str(acc["acceptance_id"]), "--seats", "10", tok=who)
        assert r.returncode == 4, r.stderr
    channel = grpc.insecure_channel(target)
    stub = ip_grpc.InspectionsStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.PublishChecklist(ip.PublishChecklistRequest(request_id="x", title="t", items=[ip.ChecklistItem(
            code="A-1", category=ip.CATEGORY_FIRE, text="t", severity=ip.SEVERITY_MINOR)]),
            metadata=[("authorization", f"Bearer {township}")])
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # A county officer's token reaches its county only.
    other = token("inspection.county-inspector", subject="nanxun", region="330503")
    r = cli(env, "inspection", "record", "--at", "52330502MJ0000003Q", "--level", "county", "--kind", "routine-patrol",
            "--inspector", "王", "--pass-all", tok=other)
    assert r.returncode == 3, r.stderr
    channel.close()


def test_the_province_export_matches_an_independent_computation(health):
    env, _, _ = health
    out = ok(cli(env, "inspection", "export", "--year", "2025", "-o", "json"))
    rows = json.loads(out)
    accs = json.loads(ok(cli(env, "inspection", "acceptances", "--year", "2025", "-o", "json")))
    regions = list(csv.DictReader(open(ROOT / "deploy/demo/regions.csv", encoding="utf-8")))
    for r in (x for x in rows if x["level"] == "county"):
        mine = [a for a in accs if a["county_code"] == r["region"]]
        fig = [g for g in regions if g["code"] == r["region"] and g["year"] == "2025"]
        assert r["target"] == (int(fig[0]["seat_target"] or 0) if fig else 0), r
        assert r["accepted"] == sum(a["accepted_seats"] for a in mine)
        assert r["confirmed"] == sum(a["confirmed_seats"] for a in mine if a["status"] == "city-confirmed")
    inst = [x for x in rows if x["level"] == "institution"]
    assert sorted((x["credit_code"], x["accepted"]) for x in inst) == sorted((a["credit_code"], a["accepted_seats"]) for a in accs)
    assert sum(x["confirmed"] for x in inst) == 15  # the walkthrough's city-adjusted figure
    table = ok(cli(env, "inspection", "export", "--year", "2025", "-o", "csv"))
    assert table.lstrip("\ufeff").startswith("LEVEL,REGION,NAME")


# Hostile input, generated from the contract's limits as for the registry and the workforce.
from test_hostile_input import field_cases  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402

IN_SERVICE = ip.DESCRIPTOR.services_by_name["Inspections"]
IN_CASES = [(m.name, p, s, okay, label) for m in IN_SERVICE.methods for p, s, okay, label in field_cases(m.input_type)]


def test_every_inspection_request_field_declares_limits():
    assert {c[0] for c in IN_CASES} == {m.name for m in IN_SERVICE.methods if m.input_type.fields}
    assert len(IN_CASES) > 150


@pytest.mark.parametrize("method,path,setter,within,label", IN_CASES, ids=[f"{c[0]}:{c[1]}:{c[4]}" for c in IN_CASES])
def test_inspection_field_at_and_past_its_bound(health, method, path, setter, within, label):
    env, target, db = health
    desc = IN_SERVICE.methods_by_name[method]
    request = getattr(ip, desc.input_type.name)()
    if "request_id" in desc.input_type.fields_by_name and path != "request_id":
        request.request_id = f"hostile-{time.time_ns()}"
    setter(request)

    def rows():
        return subprocess.run(["psql", db, "-qAt", "-c",
                               "SELECT (SELECT count(*) FROM inspection.inspection) || '/' || "
                               "(SELECT count(*) FROM inspection.checklist) || '/' || (SELECT count(*) FROM inspection.acceptance)"
                               " || '/' || (SELECT count(*) FROM inspection.outbox)"],
                              check=True, capture_output=True, text=True).stdout.strip()
    before = None if within else rows()
    with grpc.insecure_channel(target) as ch:
        md = (("authorization", f"Bearer {token(ROLES + ',inspection.township-inspector', subject='hostile')}"),)
        try:
            getattr(ip_grpc.InspectionsStub(ch), method)(request, metadata=md, timeout=10)
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
