"""The registry through clients we did not write (grpcio, with stubs compiled here from protos/)
and through the built `tuoyu` CLI, against a live tuoyu-registry on the test Postgres, loaded with
the demo city from deploy/demo the way scripts/up loads it."""
import csv
import json
import re
import os
import pathlib
import subprocess

import grpc
import pytest

from conftest import BIN, ROOT, Server, free_port

DB = os.environ.get("TUOYU_TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(DB is None, reason="needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)")


from google.rpc import error_details_pb2, status_pb2  # noqa: E402
from tuoyu.registry.v1 import registry_pb2, registry_pb2_grpc  # noqa: E402

KEYS = ROOT / ".run" / "test-keys"



def unbom(text):
    """CSV output as a spreadsheet gets it: UTF-8 with a byte-order mark, which must be there."""
    assert text.startswith("\ufeff"), text[:40]
    return text[1:]


def materials(site, fire):
    """The flags of a filing's documents (NUMBER;ISSUER;ISSUED[;EXPIRES])."""
    return ["--site-proof", f"{site};湖州某置业有限公司;2025-01-02;2045-01-01",
            "--hygiene-evaluation", "WS-2025-31;湖州市吴兴区疾病预防控制中心;2025-02-03",
            "--fire-safety", f"{fire};湖州市吴兴区消防救援大队;2025-02-10",
            "--staff-qualifications", "ZG-2025-1;湖州市吴兴区人力资源和社会保障局;2025-03-01",
            "--staff-health", "JK-2025-1;湖州市吴兴区妇幼保健院;2025-03-02"]

def token(roles):
    return subprocess.run(
        [str(BIN / "tuoyu-token"), "issue", "--key", str(KEYS / "private.pem"), "--subject", "pytest",
         "--department", "health", "--roles", roles, "--ttl=600"],
        check=True, capture_output=True, text=True).stdout.strip()


ALL_ROLES = "registry.admin,registry.officer,registry.approver,registration,leader"


@pytest.fixture(scope="module")
def registry():
    subprocess.run(["psql", DB, "-q", "-v", "ON_ERROR_STOP=1", "-f", str(ROOT / "deploy/postgres/001_roles_and_schemas.sql")],
                   check=True, capture_output=True)
    subprocess.run([str(BIN / "tuoyu-token"), "keygen", "--out", str(KEYS)], check=True, capture_output=True)
    port = free_port()
    server = Server([str(BIN / "tuoyu-registry"), "--listen", f"127.0.0.1:{port}",
                     "--database-url", DB.replace("postgres@", "tuoyu_registry@"), "--health-interval-ms", "100",
                     "--metrics-listen", "off", "--token-public-key", str(KEYS / "public.pem")], port)
    env = dict(os.environ, TUOYU_REGISTRY_ADDR=f"127.0.0.1:{port}", TUOYU_TOKEN=token(ALL_ROLES))
    # Wait for migrations, then load the demo city through the CLI.
    for _ in range(100):
        r = subprocess.run([str(BIN / "tuoyu"), "registry", "rules"], env=env, capture_output=True, text=True)
        if r.returncode == 0:
            break
        __import__("time").sleep(0.1)
    for args in (["import-regions", "deploy/demo/regions.csv"], ["import", "--quiet", "deploy/demo/institutions.csv"]):
        subprocess.run([str(BIN / "tuoyu"), "registry", *args], env=env, cwd=ROOT, check=True, capture_output=True)
    yield server, env
    server.stop()


def cli(env, *args, token_env=True):
    e = dict(env)
    if not token_env:
        e.pop("TUOYU_TOKEN")
    return subprocess.run([str(BIN / "tuoyu"), *args], env=e, cwd=ROOT, capture_output=True, text=True, timeout=60)


def expected_indicators(year):
    """The indicators computed here, independently, from the demo CSV files."""
    regions = list(csv.DictReader(open(ROOT / "deploy/demo/regions.csv", encoding="utf-8")))
    insts = list(csv.DictReader(open(ROOT / "deploy/demo/institutions.csv", encoding="utf-8")))
    county_of = {r["code"]: r["parent"] for r in regions if r["level"] == "township"}
    counties = sorted({r["code"] for r in regions if r["level"] == "county"})
    out = {}
    for c in counties + ["330500"]:
        rows = [i for i in insts if i["effective_date"] <= f"{year}-12-31"
                and (c == "330500" or county_of[i["township"]] == c)]

        def seats(i):
            return sum(int(i[k].split("/")[1]) for k in ("infant", "toddler", "older_toddler", "mixed") if i[k]) + \
                int(i["family_seats"] or 0)
        total = sum(seats(i) for i in rows)
        inclusive = sum(seats(i) for i in rows if i["inclusive"] == "yes")
        fig = [r for r in regions if r["code"] == c and r["year"] == str(year)]
        pop = int(fig[0]["population"] or 0) if fig else 0
        if c == "330500":
            pop = sum(int(r["population"]) for r in regions if r["level"] == "county" and r["year"] == str(year))
        target = int(fig[0]["seat_target"] or 0) if fig else 0
        townships = {i["township"] for i in rows}
        all_townships = sorted(r2["code"] for r2 in regions if r2["level"] == "township"
                               and (c == "330500" or r2["parent"] == c))
        out[c] = dict(seats=total, inclusive=inclusive, institutions=len(rows), population=pop, target=target,
                      uncovered=[t for t in all_townships if t not in townships],
                      covered=len(townships), inclusive_covered=len({i["township"] for i in rows if i["inclusive"] == "yes"}),
                      per_thousand=round(total * 1000 / pop, 2) if pop else 0.0)
    return out


@pytest.mark.parametrize("year", [2024, 2025])
def test_cli_indicators_match_an_independent_computation(registry, year):
    _, env = registry
    r = cli(env, "registry", "indicators", "--year", str(year), "--output", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(unbom(r.stdout).splitlines()))
    assert [x["REGION"] for x in rows] == ["330500", "330502", "330503", "330521", "330522", "330523"]
    want = expected_indicators(year)
    for x in rows:
        w = want[x["REGION"]]
        assert int(x["SEATS"]) == w["seats"], x
        assert int(x["普惠 SEATS"]) == w["inclusive"], x
        assert int(x["INSTITUTIONS"]) == w["institutions"], x
        assert int(x["POPULATION"]) == w["population"], x
        assert int(x["COVERED"]) == w["covered"], x
        assert int(x["普惠 COVERED"]) == w["inclusive_covered"], x
        assert float(x["PER 1000"]) == pytest.approx(w["per_thousand"], abs=0.006), x
    # The townships no filed institution covers, per county and for the city.
    js = cli(env, "registry", "indicators", "--year", str(year), "--output", "json")
    regions = json.loads(js.stdout.strip().splitlines()[0])["regions"]
    for x in regions:
        assert [t["code"] for t in x.get("uncovered_townships", [])] == want[x["region_code"]]["uncovered"], x
    # And the table a leader reads: the plan's targets, the uncovered townships, a year not over.
    table = cli(env, "registry", "indicators", "--year", str(year))
    assert table.returncode == 0 and "湖州市" in table.stdout and "PER 1000" in table.stdout
    assert "plan: 5 seats per 1,000 residents and 89% of seats 普惠" in table.stdout, table.stdout
    if any(want[c]["uncovered"] for c in want):
        assert "uncovered in " in table.stdout, table.stdout
    assert "is not over" not in table.stderr  # 2024 and 2025 are over
    r = cli(env, "registry", "indicators", "--year", "2200")
    assert r.returncode == 0 and "warning: 2200 is not over" in r.stderr and "n/a" in r.stdout, r.stdout + r.stderr


def test_cli_registers_files_and_lists(registry):
    _, env = registry
    code = "91330502MA2B3C4D58"
    assert cli(env, "registry", "register", code, "--name", "新托育", "--legal-nature", "for-profit",
               "--authority", "吴兴区市场监督管理局", "--township", "330502002").returncode == 0
    filing = ["--mode", "private", "--inclusive", "--fee", "1800", "--township", "330502002", "--address", "示例路 9 号",
              "--infant", "1/10", "--toddler", "2/30", *materials("L1", "XF")]
    r = cli(env, "registry", "submit-filing", code, *filing)
    assert r.returncode == 0 and "filing-submitted" in r.stdout and "decision due by" in r.stdout, r.stdout + r.stderr
    r = cli(env, "registry", "file", code, "--output", "json")
    assert r.returncode == 0, r.stderr
    assert '"status":"filed"' in r.stdout and '"filing_number":"TY-330502-' in r.stdout
    r = cli(env, "registry", "list", "--region", "330502002", "--status", "filed", "--output", "csv")
    assert code in r.stdout
    history = cli(env, "registry", "history", code, "--output", "csv").stdout.splitlines()
    assert [line.split(",")[1] for line in history[1:]] == ["registered", "filing-submitted", "filed"]


@pytest.mark.parametrize("args,status,fragment,exit_code", [
    (["get", "91330502MA2B3C4D5E"], "INVALID_ARGUMENT", "credit-code.gb32100", 1),
    (["register", "91330502MA2B3C4D6B", "--name", "x", "--legal-nature", "for-profit", "--authority", "y",
      "--township", "330502999"], "INVALID_ARGUMENT", "region.known-township", 1),
    (["get", "91330502MA2B3C4D7E"], "NOT_FOUND", "institution.exists", 3),
    (["indicators", "--year", "2025", "--region", "339999"], "INVALID_ARGUMENT", "region.known", 1),
    (["reinstate", "91330502MA00000011"], "FAILED_PRECONDITION", "lifecycle.reinstated", 1),
])
def test_cli_errors_name_status_rule_and_exit_code(registry, args, status, fragment, exit_code):
    _, env = registry
    r = cli(env, "registry", *args)
    assert r.returncode == exit_code, r.stderr
    lines = r.stderr.strip().splitlines()
    # One violation: one line.
    assert len(lines) == 1 and lines[0].startswith(f"error: {status}: ") and fragment in lines[0], r.stderr


def test_cli_prints_every_violation_the_service_names(registry):
    """A filing that breaks several rules at once gets all of them back, one per line, so the
    officer can fix everything in one go."""
    _, env = registry
    code = "91330502MA00000011"
    r = cli(env, "registry", "change-filing", code, "--mode", "private", "--inclusive", "--fee", "99999",
            "--township", "330502002", "--address", "示例路 9 号", "--infant", "1/40", "--toddler", "2/90")
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("error: FAILED_PRECONDITION: ") or lines[0].startswith("error: INVALID_ARGUMENT: "), r.stderr
    violations = [x for x in lines[1:] if x.startswith("  ")]
    assert len(violations) >= 2, r.stderr
    assert all("(rule " in v for v in violations), r.stderr
    # The first line's "(and N more)" counts the lines that follow of the same kind.
    more = re.search(r"\(and (\d+) more\)", lines[0])
    assert more and int(more.group(1)) + 1 <= len(violations), r.stderr


def test_cli_exit_codes_for_auth_unreachable_and_files(registry, tmp_path):
    _, env = registry
    r = cli(env, "registry", "list", token_env=False)
    assert r.returncode == 4 and r.stderr.startswith("error: UNAUTHENTICATED"), r.stderr
    down = dict(env, TUOYU_REGISTRY_ADDR="127.0.0.1:1")
    r = cli(down, "registry", "get", "91330502MA00000011")
    assert r.returncode == 5 and "connection refused" in r.stderr and "SingleConnectionFailure" not in r.stderr, r.stderr
    r = cli(env, "registry", "import", str(tmp_path / "missing.csv"))
    assert r.returncode == 66 and r.stderr.strip() == f"error: cannot read {tmp_path / 'missing.csv'}: no such file", r.stderr
    bad = tmp_path / "gbk.csv"
    bad.write_bytes("credit_code,name\n机构,名字\n".encode("gbk"))
    r = cli(env, "registry", "import", str(bad))
    assert r.returncode == 66 and "not UTF-8" in r.stderr, r.stderr


def test_cli_token_with_a_trailing_newline_is_trimmed(registry):
    """A token pasted or read from a file usually ends with a newline; it used to reach the wire
    and reset the stream (PROTOCOL_ERROR)."""
    _, env = registry
    with_newline = dict(env, TUOYU_TOKEN=env["TUOYU_TOKEN"] + "\n")
    r = cli(with_newline, "registry", "get", "91330502MA00000011")
    assert r.returncode == 0, r.stderr
    inner = dict(env, TUOYU_TOKEN="abc def")
    r = cli(inner, "registry", "get", "91330502MA00000011")
    assert r.returncode == 64 and "printable ASCII" in r.stderr, r.stderr


def test_cli_without_token_and_with_bad_flags(registry):
    _, env = registry
    r = cli(env, "registry", "list", token_env=False)
    assert r.returncode == 4 and r.stderr.startswith("error: UNAUTHENTICATED"), r.stderr
    # The public listing needs no token.
    r = cli(env, "registry", "public", "--region", "330521", token_env=False)
    assert r.returncode == 0 and "HZ330521-2024-01" in r.stdout
    r = cli(env, "registry", "submit-filing", "91330502MA00000011", "--fee", "12.345")
    assert r.returncode == 64 and "--fee" in r.stderr


def test_cli_import_reports_bad_rows_and_keeps_good_ones(registry, tmp_path):
    _, env = registry
    header = open(ROOT / "deploy/demo/institutions.csv", encoding="utf-8").readline().strip()
    good = "91330523MA2B0000X0"  # check character fixed below
    a = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    w = [pow(3, i, 31) for i in range(17)]
    good = good[:17] + a[(31 - sum(a.index(c) * w[i] for i, c in enumerate(good[:17])) % 31) % 31]
    rows = [
        header,
        f"{good},导入好行,for-profit,安吉县市场监督管理局,private,full-day,no,3000,330523001,示例路,,1/8,,,,,,,no,,2025-03-01",
        "91330523MA2B0000YI,坏的信用代码,for-profit,x,private,full-day,no,3000,330523001,示例路,,1/8,,,,,,,no,,",
        "91330523MA2B0000Z2,列数不对,for-profit",
        f"{good[:-1]}Q,费用不是数字,for-profit,x,private,full-day,no,abc,330523001,示例路,,1/8,,,,,,,no,,",
        f"{good},重复,for-profit,x,private,full-day,no,3000,330523001,示例路,,1/8,,,,,,,no,,",
    ]
    f = tmp_path / "import.csv"
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    r = cli(env, "registry", "import", "--quiet", str(f), "--output", "csv")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "imported 1 of 5 rows" in r.stdout
    failures = {int(x["ROW"]): x for x in csv.DictReader(r.stdout.splitlines()[1:])}
    assert sorted(failures) == [3, 4, 5, 6]
    assert failures[3]["STATUS"] == "INVALID_ARGUMENT" and failures[3]["RULE"] == "credit-code.gb32100"
    assert failures[4]["RULE"] == "csv.row" and failures[5]["RULE"] == "csv.row"
    assert failures[6]["STATUS"] == "ALREADY_EXISTS"
    assert cli(env, "registry", "get", good).returncode == 0


def test_grpcio_calls_and_error_details(registry):
    server, env = registry
    md = (("authorization", f"Bearer {env['TUOYU_TOKEN']}"),)
    with grpc.insecure_channel(server.target) as ch:
        stub = registry_pb2_grpc.RegistryStub(ch)
        ind = stub.GetIndicators(registry_pb2.GetIndicatorsRequest(year=2025), metadata=md, timeout=10)
        assert ind.regions[0].region_code == "330500" and ind.as_of.month == 12
        assert ind.regions[0].seats == expected_indicators(2025)["330500"]["seats"]
        pub = stub.ListPublicInstitutions(registry_pb2.ListPublicInstitutionsRequest(page_size=5), timeout=10)
        assert len(pub.institutions) == 5 and pub.next_page_token
        page2 = stub.ListPublicInstitutions(
            registry_pb2.ListPublicInstitutionsRequest(page_size=5, page_token=pub.next_page_token), timeout=10)
        assert not {p.filing_number for p in page2.institutions} & {p.filing_number for p in pub.institutions}
        # A refused filing: FAILED_PRECONDITION whose details list every violated rule.
        with pytest.raises(grpc.RpcError) as info:
            stub.SubmitFiling(registry_pb2.SubmitFilingRequest(
                request_id="py-1", credit_code="91330502MA00000011",
                facts=registry_pb2.FilingFacts(mode=registry_pb2.SERVICE_MODE_PRIVATE_CENTRE)), metadata=md, timeout=10)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # filed already: the lifecycle refuses
        with pytest.raises(grpc.RpcError) as info:
            stub.RegisterInstitution(registry_pb2.RegisterInstitutionRequest(request_id="py-2", credit_code="bad"),
                                     metadata=md, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = dict(info.value.trailing_metadata())["grpc-status-details-bin"]
        status = status_pb2.Status.FromString(details)
        bad = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(bad)
        fields = {v.field for v in bad.field_violations}
        assert {"credit_code", "display_name", "legal_nature", "registration_authority"} <= fields
        # And google.rpc.ErrorInfo, for programs: the first rule as the reason, every rule listed.
        info_detail = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
        assert len(info_detail) == 1
        error_info = error_details_pb2.ErrorInfo()
        info_detail[0].Unpack(error_info)
        assert error_info.domain == "tuoyu" and error_info.reason
        rules = error_info.metadata["rules"].split(",")
        assert error_info.reason == rules[0] and len(rules) >= 2
        assert all(f"(rule {r})" in " ".join(v.description for v in bad.field_violations) for r in rules)


def test_cli_checks_flags_with_the_contracts_limits(registry):
    _, env = registry
    r = cli(env, "registry", "submit-filing", "91330502MA00000011", "--mode", "private", "--fee", "92233720368547757",
            "--township", "330502001", "--address", "x", "--infant", "1/10")
    assert r.returncode == 64 and "facts.monthly_fee.fen" in r.stderr and "nothing was sent" in r.stderr, r.stderr
    r = cli(env, "registry", "register", "91330502MA2B3C4D58", "--name", "x" * 101, "--legal-nature", "for-profit",
            "--authority", "y", "--township", "330502001")
    assert r.returncode == 64 and "display_name" in r.stderr, r.stderr


def test_cli_output_escapes_control_characters_and_guards_formulas(registry):
    _, env = registry
    code = "91330502MA00000011"
    # A name as an older system might have stored it (the service now refuses control characters):
    # written into the stored version past the service.
    row = subprocess.run(["psql", DB, "-qAt", "-c",
                          f"SELECT encode(body, 'hex'), current_version FROM registry.institution WHERE credit_code = '{code}'"],
                         check=True, capture_output=True, text=True).stdout.strip()
    body, version = row.split("|")
    inst = registry_pb2.Institution.FromString(bytes.fromhex(body))
    original = inst.display_name
    inst.display_name = "=HYPERLINK(\"http://x\")\x1b]0;pwned\x07\x1b[2J"
    def store(message):
        # Both copies: the version history and the current version that Get reads.
        hex_ = message.SerializeToString().hex()
        subprocess.run(["psql", DB, "-qc", f"UPDATE registry.institution_version SET body = '\\x{hex_}' "
                        f"WHERE credit_code = '{code}' AND version = {version}; "
                        f"UPDATE registry.institution SET body = '\\x{hex_}' WHERE credit_code = '{code}'"],
                       check=True, capture_output=True)
    store(inst)
    try:
        table = cli(env, "registry", "get", code)
        assert table.returncode == 0 and "\x1b" not in table.stdout and "\x07" not in table.stdout
        assert "\\u{1b}]0;pwned\\u{7}" in table.stdout
        csv_out = cli(env, "registry", "get", code, "--output", "csv")
        assert "\x1b" not in csv_out.stdout
        cell = list(csv.reader(unbom(csv_out.stdout).splitlines()))[1][1]
        assert cell.startswith("'=HYPERLINK"), cell
    finally:
        inst.display_name = original
        store(inst)


def test_server_reflection_describes_the_api_to_a_stock_client(registry):
    """grpcio-reflection's client (what grpcurl and IDEs do): list the services, then build the
    registry's descriptors from the server alone. No token: the API's shape is public."""
    from google.protobuf import descriptor_pool
    from grpc_reflection.v1alpha import reflection_pb2
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    server, _ = registry
    with grpc.insecure_channel(server.target) as ch:
        db = ProtoReflectionDescriptorDatabase(ch)
        services = set(db.get_services())
        assert {"tuoyu.registry.v1.Registry", "grpc.health.v1.Health", "tuoyu.feed.v1.ChangeFeed",
                "tuoyu.audit.v1.AuditTrail", "grpc.reflection.v1.ServerReflection"} <= services
        pool = descriptor_pool.DescriptorPool(db)
        registry_service = pool.FindServiceByName("tuoyu.registry.v1.Registry")
        method = registry_service.methods_by_name["SubmitFiling"]
        assert method.input_type.full_name == "tuoyu.registry.v1.SubmitFilingRequest"
        seats = pool.FindMessageTypeByName("tuoyu.registry.v1.ClassSeats")
        # The limits travel with the descriptors (an extension of FieldOptions, as bytes).
        assert seats.fields_by_name["seats"].GetOptions().ByteSize() > 0
        # The v1 path answers the same messages (grpcio-reflection's client speaks v1alpha).
        v1 = ch.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                              request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                              response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        answers = list(v1(iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol="tuoyu.registry.v1.Registry"),
                                reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.such.Symbol")]),
                          timeout=10))
        assert len(answers[0].file_descriptor_response.file_descriptor_proto) >= 3  # registry, common, limits, …
        assert answers[1].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_feed_payloads_are_typed_events(registry):
    """Each institution event's payload is the JSON of tuoyu.registry.v1.InstitutionEvent."""
    from google.protobuf import json_format
    rows = subprocess.run(["psql", DB, "-qAt", "-c",
                           "SELECT event_type, payload FROM registry.outbox WHERE event_type LIKE 'institution.%' "
                           "ORDER BY cursor"], check=True, capture_output=True, text=True).stdout.splitlines()
    assert rows
    filed = 0
    for line in rows:
        kind, payload = line.split("|", 1)
        event = json_format.Parse(payload, registry_pb2.InstitutionEvent())  # unknown keys would raise
        assert len(event.credit_code) == 18 and event.version >= 1 and len(event.effective_date) == 10
        if kind == "institution.filed":
            filed += 1
            assert event.status == "filed" and event.filing_number and event.seats > 0
    assert filed >= 10


def credit_code(prefix17):
    a = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    w = [pow(3, i, 31) for i in range(17)]
    return prefix17 + a[(31 - sum(a.index(c) * w[i] for i, c in enumerate(prefix17)) % 31) % 31]


def test_cli_family_care_point_is_public_by_its_community_only(registry):
    _, env = registry
    code = credit_code("92330502MA2F00001")
    assert cli(env, "registry", "register", code, "--name", "小苗家庭托育点", "--legal-nature", "for-profit",
               "--authority", "吴兴区市场监督管理局", "--township", "330502001").returncode == 0
    r = cli(env, "registry", "submit-filing", code, "--mode", "family", "--fee", "2000", "--township", "330502001",
            "--address", "幸福小区 3 幢 501 室", "--community", "幸福社区", "--family", "4", "--carers", "2",
            "--tenure", "5", *materials("房产证", "XF-9"))
    assert r.returncode == 0, r.stderr
    assert cli(env, "registry", "file", code).returncode == 0
    public = cli(env, "registry", "public", "--region", "330502001", "--output", "csv", token_env=False)
    assert public.returncode == 0 and "小苗家庭托育点" in public.stdout and "幸福社区" in public.stdout
    assert "501" not in public.stdout


def with_check(body):
    """A credit code: 17 characters and their GB 32100 check character."""
    a = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    w = [pow(3, i, 31) for i in range(17)]
    return body + a[(31 - sum(a.index(c) * w[i] for i, c in enumerate(body)) % 31) % 31]


FILING = ["--mode", "private", "--inclusive", "--fee", "1800", "--township", "330502002", "--address", "示例路 9 号",
          "--infant", "1/10", "--toddler", "2/30", *materials("租赁合同 HZ-2025-7", "XF-330502-88")]


def file_new(env, code, submit_only=False):
    assert cli(env, "registry", "register", code, "--name", "补丁托育", "--legal-nature", "for-profit",
               "--authority", "吴兴区市场监督管理局", "--township", "330502002").returncode == 0
    r = cli(env, "registry", "submit-filing", code, *FILING)
    assert r.returncode == 0, r.stderr
    if not submit_only:
        r = cli(env, "registry", "file", code)
        assert r.returncode == 0, r.stderr


def get_json(env, code):
    r = cli(env, "registry", "get", code, "--output", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[0])


def test_cli_change_filing_is_a_patch_with_a_difference_and_a_dry_run(registry):
    """Changing one fact keeps every other (leaving out --inclusive no longer turns 普惠 off),
    shows the difference, and --dry-run changes nothing."""
    _, env = registry
    code = with_check("91330502MA2B3C4P6")
    file_new(env, code)
    before = get_json(env, code)
    r = cli(env, "registry", "change-filing", code, "--phone", "0572-2345678", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "phone 电话: - → 0572-2345678" in r.stdout and "dry run: nothing was changed" in r.stdout, r.stdout
    assert get_json(env, code)["version"] == before["version"]
    r = cli(env, "registry", "change-filing", code, "--phone", "0572-2345678")
    assert r.returncode == 0, r.stderr
    after = get_json(env, code)
    assert after["version"] == before["version"] + 1
    assert after["facts"]["contact_phone"] == "0572-2345678"
    changed = {k for k in set(before["facts"]) | set(after["facts"]) if before["facts"].get(k) != after["facts"].get(k)}
    assert changed == {"contact_phone"}, changed
    assert after["facts"]["inclusive"] is True
    # The same change again is no change (and no error).
    r = cli(env, "registry", "change-filing", code, "--phone", "0572-2345678")
    assert r.returncode == 0 and r.stdout.startswith("unchanged"), r.stdout + r.stderr
    # A yes is turned off only when asked, explicitly.
    r = cli(env, "registry", "change-filing", code, "--no-inclusive", "--dry-run")
    assert r.returncode == 0 and "inclusive 普惠: yes → no" in r.stdout, r.stdout


def test_change_filing_from_a_stale_read_is_aborted_and_changes_nothing(registry):
    server, env = registry
    code = with_check("91330502MA2B3C4P7")
    file_new(env, code)
    current = get_json(env, code)
    md = (("authorization", f"Bearer {env['TUOYU_TOKEN']}"),)
    with grpc.insecure_channel(server.target) as ch:
        stub = registry_pb2_grpc.RegistryStub(ch)
        inst = stub.GetInstitution(registry_pb2.GetInstitutionRequest(credit_code=code), metadata=md, timeout=10)
        facts = inst.facts
        facts.contact_phone = "0572-1111111"
        with pytest.raises(grpc.RpcError) as info:
            stub.ChangeFiling(registry_pb2.ChangeFilingRequest(
                request_id="stale-1", credit_code=code, facts=facts, expected_version=inst.version - 1),
                metadata=md, timeout=10)
        assert info.value.code() == grpc.StatusCode.ABORTED and "read it again" in info.value.details()
    assert get_json(env, code)["version"] == current["version"]


def test_cli_describe_shows_materials_regions_and_the_last_change_and_pending_shows_the_queue(registry):
    _, env = registry
    code = with_check("91330502MA2B3C4P8")
    file_new(env, code, submit_only=True)
    r = cli(env, "registry", "pending", "--region", "330502")
    assert r.returncode == 0, r.stderr
    assert code in r.stdout and "waiting" in r.stdout, r.stdout
    r = cli(env, "registry", "pending", "--output", "csv")
    rows = list(csv.DictReader(unbom(r.stdout).splitlines()))
    dues = [x["DUE"] for x in rows]
    assert dues == sorted(dues) and code in {x["CREDIT CODE"] for x in rows}
    r = cli(env, "registry", "describe", code)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    # What the approver must read before deciding: the materials as submitted, regions by name.
    for fragment in ["租赁合同 HZ-2025-7", "XF-330502-88", "hygiene 卫生评价", "吴兴区", "decision due 办结期限",
                     "infant 乳儿班", "1/10", "last change: version 2, filing-submitted"]:
        assert fragment in out, (fragment, out)
    assert "status: registered → filing-submitted" in out, out


def test_cli_put_rule_refuses_a_local_value_looser_than_the_national_one(registry):
    _, env = registry
    args = ["registry", "put-rule", "--key", "class.infant.max-children", "--region", "330502", "--from", "2030-01-01"]
    r = cli(env, *args, "--value", "12")
    assert r.returncode == 1 and "rules.local-not-looser" in r.stderr and "national value 10" in r.stderr, r.stderr
    r = cli(env, *args, "--value", "9", "--source", "区卫健局 2029 年文件")
    assert r.returncode == 0, r.stderr
    # A township sets no rules.
    r = cli(env, "registry", "put-rule", "--key", "class.infant.max-children", "--region", "330502001",
            "--from", "2030-01-01", "--value", "8")
    assert r.returncode == 1 and "rules.local-region" in r.stderr, r.stderr


def test_cli_put_region_changes_only_the_figures_given(registry):
    """A put-region with one figure used to overwrite the year's other figures with zeros."""
    _, env = registry

    def year_2025():
        r = cli(env, "registry", "region", "330502", "--output", "json")
        assert r.returncode == 0, r.stderr
        years = json.loads(r.stdout.strip().splitlines()[0])["years"]
        return next(y for y in years if y["year"] == 2025)

    before = year_2025()
    # Plain JSON: numbers as numbers, money in yuan as the flags take it.
    assert before["seat_target"] > 0 and float(before["average_monthly_fee_yuan"]) > 0, before
    r = cli(env, "registry", "put-region", "--code", "330502", "--name", "吴兴区", "--level", "county",
            "--parent", "330500", "--year", "2025", "--population", "123456")
    assert r.returncode == 0, r.stderr
    after = year_2025()
    assert int(after["population"]) == 123456
    assert after["seat_target"] == before["seat_target"]
    assert after["average_monthly_fee_yuan"] == before["average_monthly_fee_yuan"]
    # Put the figure back as the demo has it.
    assert cli(env, "registry", "put-region", "--code", "330502", "--name", "吴兴区", "--level", "county",
               "--parent", "330500", "--year", "2025", "--population", str(before["population"])).returncode == 0
    assert year_2025() == before


def test_cli_due_dates_follow_the_holiday_calendar_and_a_late_decision_needs_a_reason(registry):
    """A submission on 2025-09-29 used to be due 2025-10-06, inside the National Day holiday."""
    _, env = registry
    code = with_check("91330502MA2B3C4P9")
    assert cli(env, "registry", "register", code, "--name", "节前托育", "--legal-nature", "for-profit",
               "--authority", "吴兴区市场监督管理局", "--township", "330502002", "--date", "2025-09-01").returncode == 0
    r = cli(env, "registry", "submit-filing", code, *FILING, "--date", "2025-09-29")
    assert r.returncode == 0, r.stderr
    assert "decision due by 2025-10-13" in r.stdout, r.stdout
    r = cli(env, "registry", "file", code, "--date", "2025-10-14")
    assert r.returncode == 1 and "filing.late-decision-reason" in r.stderr and "2025-10-13" in r.stderr, r.stderr
    assert get_json(env, code)["status"] == "filing-submitted"
    r = cli(env, "registry", "file", code, "--date", "2025-10-14", "--late-reason", "消防材料补正")
    assert r.returncode == 0, r.stderr
    assert any("消防材料补正" in x for x in get_json(env, code)["reasons"])
    # The calendar is data: listed (this year's by default), and kept by an admin.
    r = cli(env, "registry", "calendar")
    assert r.returncode == 0 and "holiday" in r.stdout, r.stdout + r.stderr
    r = cli(env, "registry", "calendar", "--year", "2026", "--output", "csv")
    days = {x["DAY"]: x["KIND"] for x in csv.DictReader(unbom(r.stdout).splitlines())}
    assert days["2026-10-01"] == "holiday" and days["2026-10-10"] == "workday", days
    r = cli(env, "registry", "put-calendar-day", "--day", "2027-01-01", "--kind", "holiday", "--name", "元旦")
    assert r.returncode == 0, r.stderr
    r = cli(env, "registry", "calendar", "--year", "2027", "--output", "csv")
    assert "2027-01-01,holiday,元旦" in r.stdout, r.stdout
    assert cli(env, "registry", "put-calendar-day", "--day", "2027-01-01", "--kind", "normal").returncode == 0
    assert "2027-01-01" not in cli(env, "registry", "calendar", "--year", "2027").stdout


def test_cli_token_file_whoami_and_versions(registry, tmp_path):
    _, env = registry
    token_file = tmp_path / "token"
    token_file.write_text(env["TUOYU_TOKEN"] + "\n")  # as an editor or `echo` leaves it
    no_env = {k: v for k, v in env.items() if k != "TUOYU_TOKEN"}
    r = cli(no_env, "registry", "get", "91330502MA00000011", "--token-file", str(token_file))
    assert r.returncode == 0, r.stderr
    r = cli(dict(no_env, TUOYU_TOKEN_FILE=str(token_file)), "registry", "get", "91330502MA00000011")
    assert r.returncode == 0, r.stderr
    r = cli(no_env, "registry", "get", "91330502MA00000011", "--token-file", str(tmp_path / "none"))
    assert r.returncode == 66 and "no such file" in r.stderr, r.stderr
    # whoami shows what the token claims.
    r = cli(env, "whoami", "-o", "json")
    assert r.returncode == 0, r.stderr
    me = json.loads(r.stdout)
    assert me["subject"] and me["department"] and me["roles"] and me["expired"] is False, me
    r = cli(no_env, "whoami")
    assert r.returncode == 4 and "no token" in r.stderr, r.stderr
    # --version on the CLI and on every service binary.
    for exe in ["tuoyu", "tuoyu-registry", "tuoyu-workforce", "tuoyu-inspection", "tuoyu-subsidy"]:
        out = subprocess.run([str(BIN / exe), "--version"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and re.fullmatch(r"tuoyu(-\w+)? \d+\.\d+\.\d+\n", out.stdout), (exe, out)


def test_cli_contexts_like_kubectl(registry, tmp_path):
    _, env = registry
    token_file = tmp_path / "token"
    token_file.write_text(env["TUOYU_TOKEN"] + "\n")
    config = tmp_path / "config.json"
    bare = {k: v for k, v in env.items() if k not in ("TUOYU_TOKEN", "TUOYU_REGISTRY_ADDR")}
    bare["TUOYU_CONFIG"] = str(config)
    # Nothing configured: a plain sentence says where an address can come from.
    r = cli(bare, "registry", "get", "91330502MA00000011")
    assert r.returncode == 64 and "set-context" in r.stderr, r.stderr
    r = cli(bare, "config", "set-context", "dev", "--registry", env["TUOYU_REGISTRY_ADDR"], "--token-file",
            str(token_file))
    assert r.returncode == 0, r.stderr
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    r = cli(bare, "config", "set-context", "elsewhere", "--registry", "127.0.0.1:1", "--token-file", str(token_file))
    assert r.returncode == 0, r.stderr
    # The first context became the current one; the command runs against it, with its token.
    r = cli(bare, "registry", "get", "91330502MA00000011")
    assert r.returncode == 0, r.stderr
    r = cli(bare, "config", "get-contexts")
    lines = [x.split() for x in r.stdout.strip().splitlines()[1:]]
    assert ["*", "dev"] == lines[0][:2] and lines[1][0] == "elsewhere", r.stdout
    # --context for one command (a flag of every command); use-context to switch.
    r = cli(bare, "registry", "get", "--context", "elsewhere", "91330502MA00000011")
    assert r.returncode == 5 and "connection refused" in r.stderr, r.stderr
    assert cli(bare, "config", "use-context", "elsewhere").returncode == 0
    assert cli(bare, "registry", "get", "91330502MA00000011").returncode == 5
    # The environment wins over the current context (scripts/up's .run/env keeps working)…
    assert cli(dict(bare, TUOYU_REGISTRY_ADDR=env["TUOYU_REGISTRY_ADDR"]), "registry", "get",
               "91330502MA00000011").returncode == 0
    # …and an explicit --context wins over the environment.
    assert cli(dict(bare, TUOYU_REGISTRY_ADDR=env["TUOYU_REGISTRY_ADDR"]), "registry", "get", "--context",
               "elsewhere", "91330502MA00000011").returncode == 5
    r = cli(bare, "registry", "get", "--context", "nope", "91330502MA00000011")
    assert r.returncode == 64 and "no context" in r.stderr, r.stderr


def test_cli_import_failed_rows_file_can_be_fixed_and_imported_again(registry, tmp_path):
    _, env = registry
    header = open(ROOT / "deploy/demo/institutions.csv", encoding="utf-8").readline().strip()
    good, bad = with_check("91330523MA2B0001A"), with_check("91330523MA2B0001B")
    f = tmp_path / "in.csv"
    f.write_text("\n".join([
        header,
        f"{good},好行,for-profit,安吉县市场监督管理局,private,full-day,no,3000,330523001,示例路,,1/8,,,,,,,no,,",
        f"{bad},费用写错,for-profit,安吉县市场监督管理局,private,full-day,no,三千,330523001,示例路,,1/8,,,,,,,no,,",
    ]) + "\n", encoding="utf-8")
    failed = tmp_path / "failed.csv"
    r = cli(env, "registry", "import", "--quiet", str(f), "--failed-rows", str(failed))
    assert r.returncode == 2 and f"refused rows written to {failed}" in r.stdout, r.stdout + r.stderr
    rows = list(csv.DictReader(failed.read_text(encoding="utf-8-sig").splitlines()))
    assert [x["credit_code"] for x in rows] == [bad] and "rule csv.row" in rows[0]["error"], rows
    # Fixed where it was written, the file goes back in as it is (its error column ignored).
    text = failed.read_text(encoding="utf-8").replace(",三千,", ",3000,")
    failed.write_text(text, encoding="utf-8")
    r = cli(env, "registry", "import", "--quiet", str(failed))
    assert r.returncode == 0 and "imported 1 of 1 rows" in r.stdout, r.stdout + r.stderr
    assert cli(env, "registry", "get", bad).returncode == 0


def test_cli_json_is_one_document_ndjson_a_line_each_and_no_headers(registry):
    _, env = registry
    r = cli(env, "registry", "list", "--region", "330502", "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # the whole output is one JSON document
    assert isinstance(doc, list) and len(doc) >= 2 and all("credit_code" in x for x in doc), r.stdout[:300]
    r = cli(env, "registry", "list", "--region", "330502", "-o", "ndjson")
    lines = r.stdout.strip().splitlines()
    assert len(lines) == len(doc) and all(json.loads(x)["credit_code"] for x in lines)
    r = cli(env, "registry", "list", "--region", "330502", "-o", "csv", "--no-headers")
    rows = list(csv.reader(unbom(r.stdout).splitlines()))
    assert len(rows) == len(doc) and rows[0][0] == doc[0]["credit_code"], r.stdout[:300]


def test_cli_materials_are_documents_checked_by_date_and_shown_to_the_approver(registry):
    _, env = registry
    code = credit_code("91330502MA2M00001")
    assert cli(env, "registry", "register", code, "--name", "材料托育", "--legal-nature", "for-profit",
               "--authority", "吴兴区市场监督管理局", "--township", "330502002").returncode == 0
    expired = [x if not x.startswith("L-9;") else "L-9;湖州某置业有限公司;2020-01-01;2025-12-31"
               for x in FILING_WITH("L-9")]
    r = cli(env, "registry", "submit-filing", code, *expired)
    assert r.returncode == 1 and "document.not-expired" in r.stderr and "2025-12-31" in r.stderr, r.stderr
    r = cli(env, "registry", "submit-filing", code, *FILING_WITH("L-9"), "--fire-safety", "XF-1")
    assert r.returncode == 64 and "--fire-safety must be NUMBER;ISSUER;ISSUED" in r.stderr, r.stderr
    r = cli(env, "registry", "submit-filing", code, *FILING_WITH("L-9"))
    assert r.returncode == 0, r.stderr
    out = cli(env, "registry", "describe", code).stdout
    assert "L-9 · 湖州某置业有限公司 · issued 2025-01-02 · expires 2045-01-01" in out, out
    assert "WS-2025-31 · 湖州市吴兴区疾病预防控制中心 · issued 2025-02-03" in out, out
    doc = get_json(env, code)
    assert doc["materials"]["site_proof"] == {"number": "L-9", "issuer": "湖州某置业有限公司", "issued": "2025-01-02",
                                              "expires": "2045-01-01"}
    assert doc["materials"]["food_licence"] == {"number": "", "issuer": "", "issued": "", "expires": ""}


def FILING_WITH(site):
    return ["--mode", "private", "--inclusive", "--fee", "1800", "--township", "330502002", "--address", "示例路 9 号",
            "--infant", "1/10", "--toddler", "2/30", *materials(site, "XF-1")]


def test_cli_credit_code_from_another_county_is_a_warning_kept_on_the_institution(registry):
    _, env = registry
    code = credit_code("91330503MA2W00001")  # issued in 南浔区 (330503); the township is in 吴兴区
    r = cli(env, "registry", "register", code, "--name", "迁入托育", "--legal-nature", "for-profit",
            "--authority", "湖州市南浔区市场监督管理局", "--township", "330502002")
    assert r.returncode == 0, r.stderr
    assert "rule registration.credit-code-region" in r.stderr and "330503" in r.stderr, r.stderr
    assert "rule registration.authority-region" in r.stderr, r.stderr
    out = cli(env, "registry", "describe", code).stdout
    assert "warning 提示" in out and "registration.credit-code-region" in out, out
    assert [w["rule"] for w in get_json(env, code)["warnings"]] == ["registration.credit-code-region",
                                                                   "registration.authority-region"]
    # Its own county's code and authority: nothing to say.
    own = credit_code("91330502MA2W00002")
    r = cli(env, "registry", "register", own, "--name", "本地托育", "--legal-nature", "for-profit",
            "--authority", "湖州市吴兴区市场监督管理局", "--township", "330502002")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert get_json(env, own)["warnings"] == []


def test_cli_json_is_in_the_forms_the_flags_take_with_defaults(registry):
    _, env = registry
    doc = get_json(env, "91330502MA00000011")
    assert doc["status"] in ("filed", "suspended") and doc["legal_nature"] == "for-profit"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", doc["effective_date"]), doc
    assert doc["facts"]["mode"] == "private-centre" and doc["facts"]["care_types"] == ["full-day"]
    assert doc["facts"]["monthly_fee_yuan"] == "2100.00" and doc["decision_due"] == "" and doc["reasons"] == []
    assert doc["facts"]["latitude"] == 0 and doc["facts"]["seats"]["family"] == 0  # defaults are there
    # What JSON prints, the flags take.
    r = cli(env, "registry", "list", "--region", "330502001", "--mode", doc["facts"]["mode"], "--status", doc["status"],
            "-o", "json")
    assert r.returncode == 0 and "91330502MA00000011" in r.stdout, r.stderr


def test_cli_repeated_filters_mean_any_of(registry):
    _, env = registry
    code = credit_code("91330502MA2R00001")
    assert cli(env, "registry", "register", code, "--name", "筛选托育", "--legal-nature", "for-profit",
               "--authority", "吴兴区市场监督管理局", "--township", "330502003").returncode == 0

    def codes(*flags):
        r = cli(env, "registry", "list", "--region", "330502003", *flags, "-o", "json")
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        assert isinstance(d, list)  # a list prints an array, also of one
        return {x["credit_code"]: x["status"] for x in d}

    registered, filed = codes("--status", "registered"), codes("--status", "filed")
    assert code in registered and filed and code not in filed
    both = codes("--status", "registered", "--status", "filed")
    assert both == {**registered, **filed}
    assert codes("--status", "registered,filed") == both
    r = cli(env, "registry", "list", "--status", "filed", "--status", "bogus")
    assert r.returncode == 64 and "unknown \"bogus\"" in r.stderr


def test_cli_export_edit_import_round_trips_with_dry_run_unchanged_bom_and_gbk(registry, tmp_path):
    _, env = registry
    r = cli(env, "registry", "list", "--region", "330522", "-o", "csv")
    assert r.returncode == 0, r.stderr
    text = unbom(r.stdout)  # a spreadsheet on Windows needs the byte-order mark to read UTF-8
    rows = list(csv.DictReader(text.splitlines()))
    assert rows and set(rows[0]) >= {"credit_code", "name", "township", "monthly_fee_yuan", "filing_number"}
    exported = tmp_path / "export.csv"
    exported.write_text(r.stdout, encoding="utf-8")
    # The same file imported again: nothing changes, nothing fails.
    r = cli(env, "registry", "import", "--quiet", str(exported))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"imported 0 of {len(rows)} rows" in r.stdout and f"{len(rows)} unchanged, 0 failed" in r.stdout, r.stdout
    # Edited: one row becomes a new institution. A dry run says so and changes nothing.
    new = credit_code("91330522MA2E00001")
    edited = [dict(x) for x in rows]
    edited[0].update(credit_code=new, name="导出改名托育", filing_number="")
    f = tmp_path / "edited.csv"
    with open(f, "w", newline="", encoding="utf-8") as out:
        w = csv.DictWriter(out, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(edited)
    r = cli(env, "registry", "import", "--quiet", "--dry-run", str(f))
    assert r.returncode == 0 and "1 would be imported" in r.stdout and "nothing was changed" in r.stdout, r.stdout
    assert cli(env, "registry", "get", new).returncode == 3
    r = cli(env, "registry", "import", "--quiet", str(f))
    assert r.returncode == 0 and f"imported 1 of {len(rows)} rows" in r.stdout, r.stdout + r.stderr
    assert get_json(env, new)["display_name"] == "导出改名托育"
    # GBK: written by --encoding gbk, read back by it; without it, a plain sentence and exit 66.
    r = subprocess.run([str(BIN / "tuoyu"), "registry", "list", "--region", "330522", "-o", "csv", "--encoding", "gbk"],
                       env=env, cwd=ROOT, capture_output=True, timeout=60)
    assert r.returncode == 0 and not r.stdout.startswith(b"\xef\xbb\xbf")
    assert "导出改名托育" in r.stdout.decode("gbk")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(r.stdout)
    r = cli(env, "registry", "import", "--quiet", "--encoding", "gbk", str(gbk))
    assert r.returncode == 0 and f"{len(rows) + 1} unchanged" in r.stdout, r.stdout + r.stderr
    r = cli(env, "registry", "import", "--quiet", str(gbk))
    assert r.returncode == 66 and "not UTF-8" in r.stderr and "--encoding gbk" in r.stderr, r.stderr


def test_cli_audit_by_bare_credit_code_and_watch_the_change_feed(registry):
    _, env = registry
    auditor = dict(env, TUOYU_TOKEN=token("auditor"))
    code = credit_code("91330502MA2T00001")
    assert cli(env, "registry", "register", code, "--name", "审计托育", "--legal-nature", "for-profit",
               "--authority", "吴兴区市场监督管理局", "--township", "330502001").returncode == 0
    assert cli(env, "registry", "suspend", code, "--reason", "x").returncode == 1  # refused: not filed
    r = cli(auditor, "audit", "--target", code)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["AT", "PRINCIPAL", "DEPARTMENT", "METHOD"]
    # Newest first: the refused suspension, then the registration.
    assert "SuspendInstitution" in lines[1] and "FAILED_PRECONDITION" in lines[1], r.stdout
    assert "RegisterInstitution" in lines[2] and "OK" in lines[2], r.stdout
    entries = json.loads(cli(auditor, "audit", "--target", code, "-o", "json").stdout)
    assert [e["target"] for e in entries] == [f"institutions/{code}"] * 2
    # Who may read the trail: auditors, not the officers it records.
    assert cli(env, "audit", "--target", code).returncode == 4

    r = cli(auditor, "registry", "watch", "-o", "json")
    assert r.returncode == 0, r.stderr
    events = json.loads(r.stdout)
    mine = [e for e in events if e["subject"] == f"institutions/{code}"]
    assert [e["event_type"] for e in mine] == ["institution.registered"], mine
    last = events[-1]["cursor"]
    assert cli(auditor, "registry", "watch", "--after", str(last), "-o", "ndjson").stdout.strip() == ""
    # Following: a change made now arrives while the command runs.
    p = subprocess.Popen([str(BIN / "tuoyu"), "registry", "watch", "--follow", "--after", str(last), "-o", "ndjson"],
                         env=auditor, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        other = credit_code("91330502MA2T00002")
        assert cli(env, "registry", "register", other, "--name", "跟随托育", "--legal-nature", "for-profit",
                   "--authority", "吴兴区市场监督管理局", "--township", "330502001").returncode == 0
        event = json.loads(p.stdout.readline())
        assert event["subject"] == f"institutions/{other}" and event["cursor"] > last, event
    finally:
        p.kill()
        p.wait()


def test_cli_completion_knows_enum_values_and_files():
    script = subprocess.run([str(BIN / "tuoyu"), "--generate-completion-script", "bash"], capture_output=True,
                            text=True, timeout=30)
    assert script.returncode == 0
    for value in ["filing-submitted", "kindergarten", "full-day", "non-profit", "township", "holiday"]:
        assert value in script.stdout, value
    assert "csv" in script.stdout
    assert "--generate-completion-script" in subprocess.run([str(BIN / "tuoyu"), "--help"], capture_output=True,
                                                             text=True, timeout=30).stdout
