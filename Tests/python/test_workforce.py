"""The workforce service through clients we did not write (grpcio, with stubs compiled here from
protos/) and through the built `tuoyu` CLI, against live tuoyu-registry and tuoyu-workforce
processes on a database of their own: the workforce follows the registry's change feed for real,
and the demo city and its workforce are loaded the way scripts/up loads them."""
import base64
import csv
import datetime
import json
import os
import re
import subprocess
import time

import grpc
import pytest

from conftest import BIN, ROOT, Server, free_port, service_database, wait_for_port

DB = os.environ.get("TUOYU_TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(DB is None, reason="needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)")

from google.rpc import error_details_pb2, status_pb2  # noqa: E402
from tuoyu.feed.v1 import feed_pb2, feed_pb2_grpc  # noqa: E402
from tuoyu.workforce.v1 import workforce_pb2 as wf, workforce_pb2_grpc as wf_grpc  # noqa: E402

KEYS = ROOT / ".run" / "test-keys-workforce"
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def resident_id(digits17):
    return digits17 + "10X98765432"[sum(int(d) * w for d, w in zip(digits17, WEIGHTS)) % 11]


def token(roles, subject="pytest", institution=None, region=None):
    args = [str(BIN / "tuoyu-token"), "issue", "--key", str(KEYS / "private.pem"), "--subject", subject,
            "--department", "hrss", "--roles", roles, "--ttl=900"]
    if institution:
        args += ["--institution", institution]
    if region:
        args += ["--region", region]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


OFFICER = "workforce.officer,workforce.admin,leader"
DEMO = ROOT / "deploy" / "demo"


def cli(env, *args, tok=None):
    e = dict(env)
    if tok:
        e["TUOYU_TOKEN"] = tok
    return subprocess.run([str(BIN / "tuoyu"), *args], env=e, cwd=ROOT, capture_output=True, text=True, timeout=60)


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """A database of its own with the four roles; the registry and the workforce (following the
    registry) running; the demo city and its workforce loaded through the CLI."""
    name = "tuoyu_workforce_test"
    db = service_database(name)
    subprocess.run([str(BIN / "tuoyu-token"), "keygen", "--out", str(KEYS)], check=True, capture_output=True)
    vault = KEYS / "vault.keys"
    vault.write_text("wf1:" + base64.b64encode(os.urandom(32)).decode() + "\n")
    service_token = KEYS / "workforce.token"
    service_token.write_text(token("service", subject="workforce"))
    rport, wport = free_port(), free_port()
    registry = Server([str(BIN / "tuoyu-registry"), "--listen", f"127.0.0.1:{rport}",
                       "--database-url", db.replace("postgres@", "tuoyu_registry@"), "--health-interval-ms", "100",
                       "--metrics-listen", "off", "--token-public-key", str(KEYS / "public.pem")], rport)
    log = tmp_path_factory.mktemp("wf") / "workforce.log"
    logfile = open(log, "w")
    workforce = subprocess.Popen(
        [str(BIN / "tuoyu-workforce"), "--listen", f"127.0.0.1:{wport}",
         "--database-url", db.replace("postgres@", "tuoyu_workforce@"), "--health-interval-ms", "100",
         "--metrics-listen", "off", "--token-public-key", str(KEYS / "public.pem"), "--log-level", "debug",
         "--vault-key-file", str(vault), "--service-token-file", str(service_token),
         "--peer-registry", f"127.0.0.1:{rport}"], stdout=logfile, stderr=subprocess.STDOUT)
    wait_for_port(wport, workforce)
    env = dict(os.environ, TUOYU_REGISTRY_ADDR=f"127.0.0.1:{rport}", TUOYU_WORKFORCE_ADDR=f"127.0.0.1:{wport}",
               TUOYU_TOKEN=token("registry.admin,registry.officer,registry.approver,registration," + OFFICER))
    for _ in range(100):
        if cli(env, "registry", "rules").returncode == 0 and cli(env, "workforce", "courses").returncode == 0:
            break
        time.sleep(0.1)
    ok(cli(env, "registry", "import-regions", "deploy/demo/regions.csv"))
    ok(cli(env, "registry", "import", "--quiet", "deploy/demo/institutions.csv"))
    # The demo workforce, as scripts/up loads it.
    ok(cli(env, "workforce", "create-course", "--code", "PREJOB-2024", "--title", "岗前培训", "--kind", "pre-job",
           "--hours", "40"))
    sessions = {}
    for county in ("330502", "330503"):
        out = ok(cli(env, "workforce", "create-session", "--course", "PREJOB-2024", "--county", county,
                     "--starts", "2024-01-08", "--ends", "2024-01-12", "--capacity", "200", "-o", "json"))
        sessions[county] = str(json.loads(out)["session_id"])
    ok(cli(env, "workforce", "import", "deploy/demo/people.csv"))
    for row in csv.DictReader(open(DEMO / "training.csv", encoding="utf-8")):
        ok(cli(env, "workforce", "enrol", sessions[row["county"]], row["id_number"]))
        ok(cli(env, "workforce", "attendance", sessions[row["county"]], row["id_number"], "--hours", "40"))
    # The institutions reach the workforce through the registry's change feed.
    for _ in range(200):
        if cli(env, "workforce", "compliance", "91330523MA0000020D").returncode == 0:
            break
        time.sleep(0.1)
    ok(cli(env, "workforce", "import", "deploy/demo/staff.csv"))
    yield env, f"127.0.0.1:{wport}", db, log
    registry.stop()
    workforce.terminate()
    workforce.wait(timeout=15)
    logfile.close()


def stub(target, tok):
    channel = grpc.insecure_channel(target)
    return wf_grpc.WorkforceStub(channel), [("authorization", f"Bearer {tok}")], channel


def details(err):
    """The rules a refusal names (google.rpc details)."""
    rules = []
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            st = status_pb2.Status.FromString(value)
            for d in st.details:
                if d.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
                    pf = error_details_pb2.PreconditionFailure()
                    d.Unpack(pf)
                    rules += [v.type for v in pf.violations]
                if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    d.Unpack(info)
                    rules.append(info.reason)
    return rules


def person_request(n, name="测试员工", education=wf.EDUCATION_SENIOR_SECONDARY):
    return wf.RegisterPersonRequest(request_id=f"py-person-{n}-{time.monotonic_ns()}", display_name=name,
                                    id_number=resident_id(f"33052119920202{n:03d}"), education=education)


DEQING_A = "52330521MJ0000009U"
DEQING_B = "91330521MA0000010F"
CHANGXING = "91330522MA00000137"


def test_a_banned_person_is_refused_at_every_institution_and_the_event_is_delivered_once(city):
    env, target, _, _ = city
    officer, md, ch = stub(target, token(OFFICER, subject="officer-py"))
    p = officer.RegisterPerson(person_request(1), metadata=md)
    assert "*" in p.id_number and p.id_number_masked
    job = officer.HireStaff(wf.HireStaffRequest(request_id="py-hire-1", person=wf.PersonRef(person_id=p.person_id),
                                                credit_code=DEQING_A, role=wf.STAFF_ROLE_COOK), metadata=md)
    ban = officer.BanPerson(wf.BanPersonRequest(
        request_id="py-ban-1", person=wf.PersonRef(person_id=p.person_id),
        decision=wf.Decision(case_number="(2025)浙0521刑初7号", authority="德清县人民法院",
                             decided_on={"year": 2025, "month": 6, "day": 1}, reason="虐待被看护人")), metadata=md)
    assert [e.employment_id for e in ban.ban.ended_employments] == [job.employment_id]
    # Refused at every institution, by an officer and by the institution's own employer token.
    for code in (DEQING_A, DEQING_B, CHANGXING):
        for who, tok in (("officer", token(OFFICER, subject="officer-py")),
                         ("employer", token("workforce.employer", subject=f"boss-{code}", institution=code))):
            s, m, c = stub(target, tok)
            with pytest.raises(grpc.RpcError) as info:
                s.HireStaff(wf.HireStaffRequest(request_id=f"py-rehire-{code}-{who}",
                                                person=wf.PersonRef(id_number=resident_id("33052119920202001")),
                                                credit_code=code, role=wf.STAFF_ROLE_COOK), metadata=m)
            c.close()
            assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION, (code, who, info.value.details())
            assert "hire.not-banned" in details(info.value), details(info.value)
    # Eligibility: the answer and nothing else.
    agency, am, ac = stub(target, token("workforce.eligibility", subject="agency-py"))
    r = agency.CheckEligibility(wf.CheckEligibilityRequest(id_number=resident_id("33052119920202001")), metadata=am)
    assert r.eligible is False and r.ListFields() == []
    assert agency.CheckEligibility(wf.CheckEligibilityRequest(id_number=resident_id("33052119920202999")),
                                   metadata=am).eligible
    ac.close()
    # The workforce's change feed carries the ban once, and the employment it ended once.
    feed = feed_pb2_grpc.ChangeFeedStub(ch)
    events = list(feed.WatchEvents(feed_pb2.WatchEventsRequest(after_cursor=0, stop_at_end=True), timeout=10,
                                   metadata=[("authorization", f"Bearer {token('service', subject='registry')}")]))
    banned = [e for e in events if e.event_type == "person.banned" and e.subject == f"people/{p.person_id}"]
    ended = [e for e in events if e.event_type == "employment.ended" and e.subject == f"employments/{job.employment_id}"]
    assert len(banned) == 1 and len(ended) == 1
    payload = json.loads(banned[0].payload_json)
    assert payload["ended_at_credit_codes"] == [DEQING_A] and payload["case_number"] == "(2025)浙0521刑初7号"
    assert all(resident_id("33052119920202001")[4:16] not in e.payload_json for e in events)
    ch.close()


def test_an_employer_token_cannot_read_another_institutions_staff(city):
    env, target, _, _ = city
    officer, md, ch = stub(target, token(OFFICER, subject="officer-py"))
    p = officer.RegisterPerson(person_request(2), metadata=md)
    officer.HireStaff(wf.HireStaffRequest(request_id="py-hire-2", person=wf.PersonRef(person_id=p.person_id),
                                          credit_code=DEQING_B, role=wf.STAFF_ROLE_SECURITY), metadata=md)
    ch.close()
    boss, bm, bc = stub(target, token("workforce.employer", subject="boss-a", institution=DEQING_A))
    for call, request in (
            (boss.ListStaff, wf.ListStaffRequest(credit_code=DEQING_B)),
            (boss.GetPerson, wf.GetPersonRequest(person=wf.PersonRef(person_id=p.person_id))),
            (boss.GetCompliance, wf.GetComplianceRequest(credit_code=DEQING_B))):
        with pytest.raises(grpc.RpcError) as info:
            call(request, metadata=bm)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND, info.value.details()
    own = boss.ListStaff(wf.ListStaffRequest(), metadata=bm)
    assert {e.credit_code for e in own.employments} <= {DEQING_A}
    with pytest.raises(grpc.RpcError) as info:
        boss.BanPerson(wf.BanPersonRequest(request_id="x", person=wf.PersonRef(person_id=p.person_id)), metadata=bm)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    bc.close()
    # A county officer reads their county only.
    nanxun = cli(env, "workforce", "staff", "--region", "330502", tok=token("workforce.officer", region="330503"))
    assert nanxun.returncode == 4, nanxun.stderr


def _day(s):
    return datetime.date.fromisoformat(s)


def test_certification_rate_and_ratios_match_an_independent_computation(city):
    env, _, _, _ = city
    people = {r["id_number"]: r for r in csv.DictReader(open(DEMO / "people.csv", encoding="utf-8"))}
    staff = list(csv.DictReader(open(DEMO / "staff.csv", encoding="utf-8")))
    insts = {r["credit_code"]: r for r in csv.DictReader(open(DEMO / "institutions.csv", encoding="utf-8"))}
    day = _day("2025-12-31")
    qualifying = {"caregiver": {"infant-carer", "nursery-carer", "teacher"}, "health-worker": {"health-care"}}
    want = {}
    for s in staff:
        county = insts[s["credit_code"]]["township"][:6]
        if s["role"] not in qualifying or _day(s["start_date"]) > day:
            continue
        p = people[s["id_number"]]
        certified = (p["certificate_kind"] in qualifying[s["role"]] and _day(p["certificate_issued"]) <= day
                     and (not p["certificate_expires"] or _day(p["certificate_expires"]) >= day))
        n, c = want.get(county, (0, 0))
        want[county] = (n + 1, c + int(certified))
    out = ok(cli(env, "workforce", "indicators", "--year", "2025", "-o", "csv"))
    rows = {r["REGION"]: r for r in csv.DictReader(out.lstrip("\ufeff").splitlines())}
    for county, (n, c) in want.items():
        assert int(rows[county]["STAFF"]) == n and int(rows[county]["CERTIFIED"]) == c, (county, rows[county])
        assert rows[county]["RATE"] == f"{(c * 1000 // n) / 10:.1f}%"
    city_n = sum(n for n, _ in want.values())
    city_c = sum(c for _, c in want.values())
    assert int(rows["330500"]["STAFF"]) >= city_n  # other tests may add staff elsewhere
    assert rows["330500"]["NEW TARGET"] == "3000" and rows["330500"]["TRAINED TARGET"] == "10000"
    assert int(rows["330500"]["TRAINED TOTAL"]) >= 21 and city_c > 0
    # Caregivers the filed seats need: each class on its own at 1:3, 1:5, 1:7, rounded up.
    ratios = {"infant": 3, "toddler": 5, "older_toddler": 7}
    listed = json.loads(ok(cli(env, "workforce", "compliance-list", "--region", "330502", "--as-of", "2025-12-31",
                               "-o", "json")))
    assert listed
    for c in listed:
        inst = insts[c["credit_code"]]
        need = 0
        for cls, per in ratios.items():
            if not inst[cls]:
                continue
            classes, seats = map(int, inst[cls].split("/"))
            groups = max(1, min(classes, seats))
            sizes = [seats // groups + (1 if i < seats % groups else 0) for i in range(groups)]
            need += sum(-(-size // per) for size in sizes)
        carers = sum(1 for s in staff if s["credit_code"] == c["credit_code"] and s["role"] == "caregiver"
                     and _day(s["start_date"]) <= _day("2025-12-31"))
        assert c["caregivers_required"] == need and c["caregivers"] == carers, c
        assert c["ratio_met"] == (carers >= need)


def test_bad_input_gets_a_clear_error_and_changes_nothing(city):
    env, target, db, _ = city
    officer, md, ch = stub(target, token(OFFICER, subject="officer-py"))

    def people():
        return int(subprocess.run(["psql", db, "-tAc", "SELECT count(*) FROM workforce.person"], check=True,
                                  capture_output=True, text=True).stdout)
    before = people()
    good = resident_id("33052119920202050")
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    cases = [
        (dict(id_number=bad_check), grpc.StatusCode.INVALID_ARGUMENT, "id-number.valid"),
        (dict(id_number=resident_id("33052130000101050")), grpc.StatusCode.INVALID_ARGUMENT, "future"),
        (dict(id_number="33052119920202050"), grpc.StatusCode.INVALID_ARGUMENT, "id_number"),
        (dict(display_name="张\x00三"), grpc.StatusCode.INVALID_ARGUMENT, "display_name"),
        (dict(display_name="张" * 51), grpc.StatusCode.INVALID_ARGUMENT, "display_name"),
        (dict(related_experience_years=-1), grpc.StatusCode.INVALID_ARGUMENT, "related_experience_years"),
        (dict(related_experience_years=2**31 - 1), grpc.StatusCode.INVALID_ARGUMENT, "related_experience_years"),
        (dict(phone="1" * 21), grpc.StatusCode.INVALID_ARGUMENT, "phone"),
    ]
    for n, (change, code, word) in enumerate(cases):
        req = wf.RegisterPersonRequest(request_id=f"py-bad-{n}", display_name="张三", id_number=good)
        for k, v in change.items():
            setattr(req, k, v)
        with pytest.raises(grpc.RpcError) as info:
            officer.RegisterPerson(req, metadata=md)
        assert info.value.code() == code, (change, info.value.details())
        assert word in info.value.details(), (change, info.value.details())
        # The number is never quoted back.
        assert req.id_number[4:16] not in info.value.details()
    # An institution the registry does not have; a missing token; a person that does not exist.
    p = officer.RegisterPerson(person_request(51), metadata=md)
    with pytest.raises(grpc.RpcError) as info:
        officer.HireStaff(wf.HireStaffRequest(request_id="py-hire-nowhere", person=wf.PersonRef(person_id=p.person_id),
                                              credit_code="91330521MA0000099X", role=wf.STAFF_ROLE_COOK), metadata=md)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and "hire.institution-known" in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        officer.GetPerson(wf.GetPersonRequest(person=wf.PersonRef(person_id=p.person_id)))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    for ref in (wf.PersonRef(person_id=2**63 - 1), wf.PersonRef(), wf.PersonRef(person_id=1, id_number=good)):
        with pytest.raises(grpc.RpcError) as info:
            officer.GetPerson(wf.GetPersonRequest(person=ref), metadata=md)
        assert info.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
    for size in (-1, 1001, 2**31 - 1):
        with pytest.raises(grpc.RpcError) as info:
            officer.ListCompliance(wf.ListComplianceRequest(region_code="330521", page_size=size), metadata=md)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as info:
        officer.CreateSession(wf.CreateSessionRequest(request_id="py-session-bad", course_code="PREJOB-2024",
                                                      county_code="330521", starts_on={"year": 2025, "month": 2, "day": 30},
                                                      ends_on={"year": 2025, "month": 3, "day": 1}, capacity=10),
                              metadata=md)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert people() == before + 1
    ch.close()


def test_no_plain_id_number_in_the_database_the_logs_or_default_cli_output(city):
    env, target, db, log = city
    ids = [r["id_number"] for r in csv.DictReader(open(DEMO / "people.csv", encoding="utf-8"))]
    dump = subprocess.run(["pg_dump", "--data-only", "--schema=workforce", db], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    assert "id_masked" in dump.stdout or "COPY workforce.person" in dump.stdout
    leaked = [i for i in ids if i in dump.stdout or i[4:16] in dump.stdout]
    assert leaked == []
    # Default CLI output masks even for the role that may see the numbers; the flag shows them.
    identity = token(OFFICER + ",workforce.identity", subject="hr-identity")
    for args in (["staff", "--region", "330500"], ["person", ids[0]], ["bans", "--include-annulled"],
                 ["staff", "--region", "330502", "-o", "json"], ["staff", "--region", "330502", "-o", "csv"]):
        out = ok(cli(env, "workforce", *args, tok=identity))
        assert not [i for i in ids if i in out], args
    assert ids[0] in ok(cli(env, "workforce", "person", ids[0], "--reveal-id-numbers", tok=identity))
    # Without the role, the flag shows nothing more.
    assert ids[0] not in ok(cli(env, "workforce", "person", ids[0], "--reveal-id-numbers"))
    text = open(log, encoding="utf-8").read()
    assert "ImportStaff" in text and "GetPerson" in text  # the debug access lines are there
    assert not [i for i in ids + [resident_id("33052119920202001")] if i in text]


def test_a_newcomer_with_the_cli(city):
    """The issue's "done when": register staff at a demo institution, record certificates and
    training, ban a person and see them refused elsewhere, read the county's certification rate."""
    env, _, _, _ = city
    carer = resident_id("33052119950505070")
    ok(cli(env, "workforce", "register-person", "--name", "陈晓", "--id-number", carer, "--education", "college"))
    ok(cli(env, "workforce", "add-certificate", carer, "--kind", "nursery-carer",
           "--document", "ZJ-2025-070;湖州市人力资源和社会保障局;2025-03-01;2028-02-28"))
    ok(cli(env, "workforce", "health-check", carer, "--date", "2025-05-10", "--examiner", "德清县妇幼保健院"))
    session = json.loads(ok(cli(env, "workforce", "create-session", "--course", "PREJOB-2024", "--county", "330521",
                                "--starts", "2025-04-01", "--ends", "2025-04-05", "--capacity", "30", "-o", "json")))
    ok(cli(env, "workforce", "enrol", str(session["session_id"]), carer))
    ok(cli(env, "workforce", "attendance", str(session["session_id"]), carer, "--hours", "40"))
    hired = ok(cli(env, "workforce", "hire", carer, "--at", DEQING_A, "--role", "caregiver", "--start", "2025-05-15"))
    assert "caregiver" in hired and carer not in hired
    shown = ok(cli(env, "workforce", "person", carer))
    assert "nursery-carer" in shown and "completed 2025-04-05" in shown and carer not in shown
    rate = ok(cli(env, "workforce", "indicators", "--year", "2025"))
    assert re.search(r"^330521\s+2025\s+1\s+1\s+100\.0%", rate, re.M), rate
    ok(cli(env, "workforce", "ban", carer, "--case", "(2025)浙0521刑初9号", "--authority", "德清县人民法院",
           "--decided", "2025-06-01", "--reason", "虐待被看护人"))
    refused = cli(env, "workforce", "hire", carer, "--at", CHANGXING, "--role", "caregiver")
    assert refused.returncode == 1 and "hire.not-banned" in refused.stderr, refused.stderr
    assert carer not in refused.stderr
    check = ok(cli(env, "workforce", "check", carer))
    assert "not eligible" in check


# ---------------------------------------------------------------------------------------------
# Hostile input, generated from the contract's declared limits (as for the registry): every field
# of every workforce request at its bound, past it and at its type's extremes. After each the
# service is still up, and a refused request changed nothing.

from test_hostile_input import field_cases  # noqa: E402

WF_SERVICE = wf.DESCRIPTOR.services_by_name["Workforce"]
WF_CASES = [(m.name, p, s, okay, label) for m in WF_SERVICE.methods for p, s, okay, label in field_cases(m.input_type)]


def test_every_workforce_request_field_declares_limits():
    assert {c[0] for c in WF_CASES} == {m.name for m in WF_SERVICE.methods if m.input_type.fields}
    paths = {(c[0], c[1]) for c in WF_CASES}
    assert ("BanPerson", "decision.reason") in paths and ("ImportStaff", "certificate.issued.year") in paths
    assert len(WF_CASES) > 300


@pytest.fixture(scope="module")
def hostile(city):
    env, target, db, _ = city
    channel = grpc.insecure_channel(target)
    md = (("authorization", f"Bearer {token(OFFICER + ',workforce.approver,workforce.identity', subject='hostile')}"),)

    def rows():
        return subprocess.run(
            ["psql", db, "-qAt", "-c",
             "SELECT (SELECT count(*) FROM workforce.person) || '/' || (SELECT count(*) FROM workforce.employment) "
             "|| '/' || (SELECT count(*) FROM workforce.ban) || '/' || (SELECT count(*) FROM workforce.outbox) || '/' "
             "|| (SELECT count(*) FROM workforce.enrolment) || '/' || (SELECT count(*) FROM workforce.certificate)"],
            check=True, capture_output=True, text=True).stdout.strip()
    yield wf_grpc.WorkforceStub(channel), md, rows, channel
    channel.close()


@pytest.mark.parametrize("method,path,setter,within,label", WF_CASES, ids=[f"{c[0]}:{c[1]}:{c[4]}" for c in WF_CASES])
def test_workforce_field_at_and_past_its_bound(hostile, method, path, setter, within, label):
    s, md, rows, channel = hostile
    desc = WF_SERVICE.methods_by_name[method]
    request = getattr(wf, desc.input_type.name)()
    if "request_id" in desc.input_type.fields_by_name and path != "request_id":
        request.request_id = f"hostile-{time.time_ns()}"
    setter(request)
    before = None if within else rows()
    if method == "ImportStaff":
        response = s.ImportStaff(iter([request]), metadata=md, timeout=10)
        failed = {f.row: f for f in response.failures}.get(request.row)
        if within:
            assert failed is None or not failed.rule.startswith("limits."), f"{label}: {failed}"
        else:
            assert failed is not None and failed.code == "INVALID_ARGUMENT" and failed.rule.startswith("limits.")
            assert rows() == before
    else:
        try:
            call = getattr(s, method)
            call(request, metadata=md, timeout=10)
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
        flagged = fields.get(path, "")
        if within:
            assert "(rule limits." not in flagged, f"{label}: {code} {fields}"
            assert code != "INTERNAL" and code != "UNKNOWN", f"{label}: {code} {message}"
        else:
            assert code == "INVALID_ARGUMENT", f"{label}: {code} {message}"
            assert "(rule limits." in flagged, f"{label}: {path} not in {fields}"
            assert len(message) < 2000
            assert rows() == before, "a refused request changed something"
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    assert health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1


def test_cli_import_lists_refused_rows_without_their_numbers_and_writes_them_back(city, tmp_path):
    env, _, _, _ = city
    good = resident_id("33052119930303080")
    bad = resident_id("33052119930303081")[:-1] + "0"
    if bad == resident_id("33052119930303081"):
        bad = bad[:-1] + "1"
    f = tmp_path / "staff.csv"
    f.write_text("name,id_number,credit_code,role,certificate_kind,certificate_number,certificate_issuer,certificate_issued\n"
                 f"周一,{good},{DEQING_B},cook,health,JK-80,德清县妇幼保健院,2025-01-05\n"
                 f"周二,{bad},{DEQING_B},cook,,,,\n"
                 f"周三,{resident_id('33052119930303082')},{DEQING_B},chef,,,,\n", encoding="utf-8")
    failed = tmp_path / "failed.csv"
    dry = cli(env, "workforce", "import", str(f), "--dry-run")
    assert dry.returncode == 2 and "dry run of 3 rows" in dry.stdout and "1 would be imported" in dry.stdout, dry.stdout
    r = cli(env, "workforce", "import", str(f), "--failed-rows", str(failed))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "imported 1 of 3 rows" in r.stdout and "id-number.valid" in r.stdout and "csv.row" in r.stdout, r.stdout
    assert bad not in r.stdout and bad[4:16] not in r.stdout
    back = list(csv.DictReader(failed.read_text(encoding="utf-8-sig").splitlines()))
    assert [x["name"] for x in back] == ["周二", "周三"] and all(x["error"] for x in back)
    again = cli(env, "workforce", "import", str(f))
    assert "0 of 3" in again.stdout and "1 unchanged" in again.stdout, again.stdout
