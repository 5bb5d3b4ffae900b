"""The four service executables: each starts, migrates its own schema as its own role, answers
the health check from grpcio-health-checking while the database is up, reports NOT_SERVING when
it is down, recovers when it returns, and stops cleanly on SIGTERM."""
import json
import os
import pathlib
import subprocess
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import BIN, ROOT, Server, free_port

DB = os.environ.get("TUOYU_TEST_DATABASE_URL")
PG_DIR = os.environ.get("TUOYU_TEST_PG_DIR")
pytestmark = pytest.mark.skipif(DB is None, reason="needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)")
SERVICES = ["registry", "workforce", "inspection", "subsidy"]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def role_url(service):
    return DB.replace("postgres@", f"tuoyu_{service}@")


def status(port, service=""):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        return health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def wait_status(port, wanted, seconds=20, service=""):
    end = time.monotonic() + seconds
    last = None
    while time.monotonic() < end:
        try:
            last = status(port, service)
            if last == wanted:
                return last
        except grpc.RpcError as e:
            last = e.code()
        time.sleep(0.1)
    return last


KEYS = pathlib.Path(__file__).resolve().parents[2] / ".run" / "test-keys"


@pytest.fixture(scope="module", autouse=True)
def roles():
    subprocess.run(["psql", DB, "-q", "-v", "ON_ERROR_STOP=1", "-f", str(ROOT / "deploy/postgres/001_roles_and_schemas.sql")],
                   check=True, capture_output=True)
    subprocess.run([str(BIN / "tuoyu-token"), "keygen", "--out", str(KEYS)], check=True, capture_output=True)


def token(roles, ttl=600, key=None):
    return subprocess.run(
        [str(BIN / "tuoyu-token"), "issue", "--key", str(key or KEYS / "private.pem"), "--subject", "feed-reader",
         "--department", "subsidy", "--roles", roles, f"--ttl={ttl}"],
        check=True, capture_output=True, text=True).stdout.strip()


def needs(service):
    """What a service needs beyond the common flags: the workforce and the subsidy keep ID numbers
    through the vault and follow the registry (and the subsidy inspection) — unreachable here: they
    retry in the background."""
    if service == "inspection":
        return ["--peer-registry", f"127.0.0.1:{free_port()}"]
    if service not in ("workforce", "subsidy"):
        return []
    vault = KEYS / "vault.keys"
    if not vault.exists():
        vault.write_text("test1:" + __import__("base64").b64encode(os.urandom(32)).decode() + "\n")
    flags = ["--vault-key-file", str(vault), "--peer-registry", f"127.0.0.1:{free_port()}"]
    # The subsidy also follows inspection (awards, holds).
    return flags + (["--peer-inspection", f"127.0.0.1:{free_port()}"] if service == "subsidy" else [])


def start(service, *extra, log=None):
    port = free_port()
    flags = needs(service)
    # A flag given in `extra` replaces the default one from `needs`.
    for i in range(0, len(flags), 2):
        if flags[i] in extra:
            flags[i:i + 2] = [None, None]
    return Server([str(BIN / f"tuoyu-{service}"), "--listen", f"127.0.0.1:{port}",
                   "--database-url", role_url(service), "--health-interval-ms", "100",
                   "--token-public-key", str(KEYS / "public.pem"), *[f for f in flags if f], *extra], port, log=log)


@pytest.mark.parametrize("service,missing", [("workforce", "--vault-key-file"), ("workforce", "--peer-registry"),
                                             ("subsidy", "--vault-key-file"), ("subsidy", "--peer-registry"),
                                             ("subsidy", "--peer-inspection")])
def test_a_service_refuses_to_start_without_its_vault_or_its_peers(service, missing):
    args = [str(BIN / f"tuoyu-{service}"), "--listen", f"127.0.0.1:{free_port()}", "--database-url", role_url(service),
            "--token-public-key", str(KEYS / "public.pem")]
    flags = needs(service)
    i = flags.index(missing)
    r = subprocess.run(args + flags[:i] + flags[i + 2:], capture_output=True, text=True, timeout=30)
    assert r.returncode == 64, (r.returncode, r.stderr)
    assert missing.lstrip("-") in r.stderr + r.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_service_starts_migrates_and_serves(service):
    server = start(service)
    try:
        assert wait_status(server.port, SERVING) == SERVING
        assert wait_status(server.port, SERVING, service=f"tuoyu.{service}.v1") == SERVING
        # Each gRPC service by its full name, as probes and load balancers ask.
        for name in ["tuoyu.feed.v1.ChangeFeed", "tuoyu.audit.v1.AuditTrail"] + (
                ["tuoyu.registry.v1.Registry"] if service == "registry" else []):
            assert status(server.port, name) == SERVING, name
        out = subprocess.run(["psql", DB, "-Atc", f"SELECT version FROM {service}.schema_migrations ORDER BY version"],
                             check=True, capture_output=True, text=True).stdout.split()
        assert out[:5] == ["1", "2", "3", "4", "5"]  # the shared tables; the service's own start at 100
        # A service that follows the registry has RegistryView's shared tables too (0090).
        shared = ["90"] if service in ("workforce", "inspection", "subsidy") else []
        assert out[5:5 + len(shared)] == shared
        assert all(int(v) >= 100 for v in out[5 + len(shared):])
    finally:
        server.proc.terminate()
        assert server.proc.wait(timeout=15) == 0


def health_check(hport):
    """The image's health check: the executable asking its own plaintext health listener."""
    return subprocess.run([str(BIN / "tuoyu-registry"), "--health-check", f"127.0.0.1:{hport}"],
                          capture_output=True, text=True, timeout=30)


def test_health_follows_the_database():
    hport = free_port()
    server = start("registry", "--health-listen", f"127.0.0.1:{hport}")
    try:
        assert wait_status(server.port, SERVING) == SERVING
        # The plaintext health listener (probes) says the same; liveness is SERVING from the start.
        assert wait_status(hport, SERVING) == SERVING
        assert status(hport, "liveness") == SERVING
        assert health_check(hport).returncode == 0
        # It serves health and nothing else.
        with grpc.insecure_channel(f"127.0.0.1:{hport}") as ch:
            with pytest.raises(grpc.RpcError) as info:
                ch.unary_unary("/tuoyu.audit.v1.AuditTrail/ListAuditEntries")(b"", timeout=5)
            assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
        subprocess.run([str(ROOT / "scripts/pg"), "stop", PG_DIR], check=True)
        try:
            assert wait_status(server.port, NOT_SERVING) == NOT_SERVING
            # Readiness follows the database; liveness does not (a restart would not bring it back).
            assert wait_status(hport, NOT_SERVING) == NOT_SERVING
            assert status(hport, "liveness") == SERVING
            failed = health_check(hport)
            assert failed.returncode == 1 and "NOT_SERVING" in failed.stderr.upper().replace("NOTSERVING", "NOT_SERVING")
            # A call that needs the database says so: UNAVAILABLE (retry), not an internal error.
            with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
                with pytest.raises(grpc.RpcError) as info:
                    ch.unary_unary("/tuoyu.audit.v1.AuditTrail/ListAuditEntries")(
                        b"", timeout=30, metadata=(("authorization", f"Bearer {token('auditor')}"),))
                assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value.details()
        finally:
            subprocess.run([str(ROOT / "scripts/pg"), "start", PG_DIR], check=True, capture_output=True)
        assert wait_status(server.port, SERVING) == SERVING
        assert health_check(hport).returncode == 0
    finally:
        server.proc.terminate()
        assert server.proc.wait(timeout=15) == 0
    # Nobody listening: a clear failure, not a hang.
    gone = health_check(hport)
    assert gone.returncode == 1 and f"127.0.0.1:{hport}" in gone.stderr


def make_ca(d):
    """A CA and a server certificate it signs for localhost and 127.0.0.1 (what deploy/make-secrets makes)."""
    def ssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
        "-subj", "/CN=test CA", "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))
    ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=registry",
        "-keyout", str(d / "tls.key"), "-out", str(d / "tls.csr"))
    (d / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", str(d / "tls.csr"), "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"),
        "-CAcreateserial", "-days", "1", "-extfile", str(d / "ext"), "-out", str(d / "tls.crt"))


def cursor(service, source="registry"):
    out = subprocess.run(["psql", DB, "-Atc", f"SELECT coalesce(max(last_cursor), 0) FROM {service}.feed_cursor "
                          f"WHERE source = '{source}'"], capture_output=True, text=True).stdout.strip()
    return int(out or 0)


def test_peers_are_called_over_tls_verified_against_the_city_ca(tmp_path):
    """The registry serves TLS; inspection follows its feed over TLS with --tls-ca; a CA that did not
    sign the registry's certificate is refused (the follower never applies anything)."""
    make_ca(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    make_ca(other)
    port = free_port()
    registry = Server([str(BIN / "tuoyu-registry"), "--listen", f"127.0.0.1:{port}", "--database-url",
                       role_url("registry"), "--health-interval-ms", "100", "--token-public-key",
                       str(KEYS / "public.pem"), "--tls-cert", str(tmp_path / "tls.crt"), "--tls-key",
                       str(tmp_path / "tls.key")], port)
    (KEYS / "inspection.token").write_text(token("service"))
    started = []
    try:
        env = dict(os.environ, TUOYU_TOKEN=token("registry.admin"), TUOYU_REGISTRY_ADDR=f"localhost:{port}")
        put = subprocess.run([str(BIN / "tuoyu"), "registry", "put-region", "--code", "339900", "--name", "测试市", "--level",
                              "city", "--year", "2025", "--tls", "--ca", str(tmp_path / "ca.crt")],
                             env=env, capture_output=True, text=True, timeout=30)
        assert put.returncode == 0, put.stderr
        before = cursor("inspection")
        # The wrong CA first: nothing applied.
        wrong_log = tmp_path / "wrong.log"
        with open(wrong_log, "w") as log:
            wrong = start("inspection", "--tls-ca", str(other / "ca.crt"), "--service-token-file",
                          str(KEYS / "inspection.token"), "--peer-registry", f"localhost:{port}", log=log)
            started.append(wrong)
            assert wait_status(wrong.port, SERVING) == SERVING
            time.sleep(2)
            assert cursor("inspection") == before
            wrong.proc.terminate()
            assert wrong.proc.wait(timeout=15) == 0
        assert "certificate" in wrong_log.read_text().lower()
        right = start("inspection", "--tls-ca", str(tmp_path / "ca.crt"), "--service-token-file",
                      str(KEYS / "inspection.token"), "--peer-registry", f"localhost:{port}")
        started.append(right)
        end = time.monotonic() + 20
        while cursor("inspection") <= before and time.monotonic() < end:
            time.sleep(0.2)
        assert cursor("inspection") > before
    finally:
        for s in started:
            if s.proc.poll() is None:
                s.proc.terminate()
                s.proc.wait(timeout=15)
        registry.stop()


def test_bad_configuration_exits_with_a_clear_message():
    r = subprocess.run([str(BIN / "tuoyu-registry"), "--listen", "nonsense"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 64
    assert "--listen must be HOST:PORT" in r.stderr
    r = subprocess.run([str(BIN / "tuoyu-registry"), "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                       timeout=30, env={k: v for k, v in os.environ.items() if k != "TUOYU_DATABASE_URL"})
    assert r.returncode == 64
    assert "--database-url" in r.stderr
    r = subprocess.run([str(BIN / "tuoyu-registry"), "--listen", "127.0.0.1:0", "--database-url", DB],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 64
    assert "--token-public-key" in r.stderr


def test_tampered_migration_refuses_to_start():
    """A migration whose recorded checksum differs from the shipped file stops the service."""
    server = start("subsidy")  # make sure the schema is migrated
    server.proc.terminate()
    server.proc.wait(timeout=15)
    q = lambda sql: subprocess.run(["psql", DB, "-Atq", "-c", sql], check=True, capture_output=True, text=True).stdout.strip()
    original = q("SELECT checksum FROM subsidy.schema_migrations WHERE version = 1")
    q("UPDATE subsidy.schema_migrations SET checksum = 'edited' WHERE version = 1")
    try:
        port = free_port()
        proc = subprocess.run([str(BIN / "tuoyu-subsidy"), "--listen", f"127.0.0.1:{port}",
                               "--database-url", role_url("subsidy"), "--token-public-key", str(KEYS / "public.pem"),
                               *needs("subsidy")],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 78
        assert "edited after it was applied" in proc.stderr
    finally:
        q(f"UPDATE subsidy.schema_migrations SET checksum = '{original}' WHERE version = 1")


def test_change_feed_replays_and_follows_over_grpcio():
    """WatchEvents from a standard gRPC client: an event committed before the call is replayed,
    one committed during it is followed."""
    server = start("registry")
    try:
        assert wait_status(server.port, SERVING) == SERVING
        insert = lambda subject: subprocess.run(
            ["psql", DB, "-q", "-c", f"INSERT INTO registry.outbox (event_type, subject) VALUES ('test.event', '{subject}')"],
            check=True)
        insert("things/before")
        reader = (("authorization", f"Bearer {token('service')}"),)
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            watch = ch.unary_stream("/tuoyu.feed.v1.ChangeFeed/WatchEvents")(b"", timeout=20, metadata=reader)
            # Other tests may have left events in this outbox: skip to ours.
            first = next(m for m in watch if b"things/" in m)
            assert b"things/before" in first and b"registry" in first
            insert("things/during")
            second = next(watch)
            assert b"things/during" in second
            watch.cancel()
            bad = ch.unary_stream("/tuoyu.feed.v1.ChangeFeed/WatchEvents")(
                b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", timeout=5, metadata=reader)
            with pytest.raises(grpc.RpcError) as info:
                next(bad)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        server.proc.terminate()
        assert server.proc.wait(timeout=15) == 0


def test_change_feed_needs_a_valid_token_with_an_allowed_role(tmp_path):
    server = start("workforce")
    try:
        assert wait_status(server.port, SERVING) == SERVING
        subprocess.run([str(BIN / "tuoyu-token"), "keygen", "--out", str(tmp_path)], check=True, capture_output=True)
        cases = [
            ((), grpc.StatusCode.UNAUTHENTICATED),
            ((("authorization", "Bearer garbage"),), grpc.StatusCode.UNAUTHENTICATED),
            ((("authorization", f"Bearer {token('service', ttl=-60)}"),), grpc.StatusCode.UNAUTHENTICATED),
            ((("authorization", f"Bearer {token('service', key=tmp_path / 'private.pem')}"),), grpc.StatusCode.UNAUTHENTICATED),
            ((("authorization", f"Bearer {token('registry.officer')}"),), grpc.StatusCode.PERMISSION_DENIED),
        ]
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            for metadata, code in cases:
                call = ch.unary_stream("/tuoyu.feed.v1.ChangeFeed/WatchEvents")(b"", timeout=5, metadata=metadata)
                with pytest.raises(grpc.RpcError) as info:
                    next(call)
                assert info.value.code() == code, (metadata, info.value.details())
            # Health stays public: probes carry no token.
            assert status(server.port) == SERVING
    finally:
        server.proc.terminate()
        assert server.proc.wait(timeout=15) == 0


def test_audit_trail_is_for_auditors():
    server = start("inspection")
    try:
        assert wait_status(server.port, SERVING) == SERVING
        subprocess.run(["psql", DB, "-q", "-c",
                        "INSERT INTO inspection.audit_log (principal, department, method, target, request_id, "
                        "request_digest, outcome) VALUES ('bob', 'health', '/x/Y', 'inspections/7', 'q1', 'd', 'OK')"],
                       check=True)
        method = "/tuoyu.audit.v1.AuditTrail/ListAuditEntries"
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            raw = ch.unary_unary(method)(b"", timeout=10, metadata=(("authorization", f"Bearer {token('auditor')}"),))
            assert b"inspections/7" in raw and b"bob" in raw
            with pytest.raises(grpc.RpcError) as info:
                ch.unary_unary(method)(b"", timeout=10, metadata=(("authorization", f"Bearer {token('service')}"),))
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        server.proc.terminate()
        assert server.proc.wait(timeout=15) == 0


def scrape(port, path="/metrics"):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.headers.get("content-type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type"), e.read().decode()


def sample(text, name, **labels):
    """The value of the sample `name` whose labels include `labels`, or None — read with
    prometheus_client's own parser, as a Prometheus server would read the exposition."""
    from prometheus_client.parser import text_string_to_metric_families
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def helps(text):
    """The HELP text of each metric family."""
    from prometheus_client.parser import text_string_to_metric_families
    return {f.name: f.documentation for f in text_string_to_metric_families(text)}


def test_metrics_endpoint_counts_calls_by_method_and_code():
    mport = free_port()
    server = start("subsidy", "--metrics-listen", f"127.0.0.1:{mport}")
    try:
        assert wait_status(server.port, SERVING) == SERVING
        for _ in range(3):
            assert status(server.port) == SERVING
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            with pytest.raises(grpc.RpcError):
                ch.unary_unary("/tuoyu.audit.v1.AuditTrail/ListAuditEntries")(b"", timeout=5)
            # Refused before routing: an unknown method, counted without its (attacker-chosen) name.
            with pytest.raises(grpc.RpcError) as info:
                ch.unary_unary("/no.such.Service/Probe")(b"", timeout=5)
            assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
            # Refused by a rule: a negative cursor breaks the contract's limit (limits.range).
            with pytest.raises(grpc.RpcError) as info:
                next(ch.unary_stream("/tuoyu.feed.v1.ChangeFeed/WatchEvents")(
                    b"\x08" + b"\xff" * 9 + b"\x01", timeout=5,
                    metadata=(("authorization", f"Bearer {token('service')}"),)))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        code, ctype, text = scrape(mport)
        assert code == 200 and ctype.startswith("text/plain; version=0.0.4")
        assert sample(text, "tuoyu_grpc_refused_calls_total", reason="unknown-method") == 1
        assert "no.such.Service" not in text
        assert sample(text, "tuoyu_refusals_total", grpc_service="tuoyu.feed.v1.ChangeFeed", grpc_method="WatchEvents",
                      rule="limits.range") == 1
        # The process figures every Prometheus client exports.
        assert sample(text, "process_cpu_seconds_total") > 0
        assert sample(text, "process_resident_memory_bytes") > 1 << 20
        assert 0 < sample(text, "process_open_fds") <= sample(text, "process_max_fds")
        assert abs(sample(text, "process_start_time_seconds") - time.time()) < 3600
        health = dict(grpc_service="grpc.health.v1.Health", grpc_method="Check", grpc_type="unary")
        assert sample(text, "grpc_server_handled_total", **health, grpc_code="OK") >= 4
        assert sample(text, "grpc_server_started_total", **health) >= 4
        assert sample(text, "grpc_server_handled_total", grpc_service="tuoyu.audit.v1.AuditTrail",
                      grpc_method="ListAuditEntries", grpc_code="UNAUTHENTICATED") == 1
        assert sample(text, "grpc_server_handling_seconds_count", **health) >= 4
        assert sample(text, "grpc_server_in_flight", **health) == 0
        assert sample(text, "tuoyu_build_info", service="subsidy") == 1
        documented = helps(text)
        for family in ["grpc_server_handled", "grpc_server_started", "grpc_server_handling_seconds",
                       "grpc_server_in_flight", "tuoyu_build_info"]:
            assert documented.get(family), (family, documented)
        assert sample(text, "tuoyu_serving", service="subsidy") == 1
        assert sample(text, "tuoyu_db_pool_connections", service="subsidy", state="open") >= 1
        assert scrape(mport, "/other")[0] == 404
    finally:
        server.proc.terminate()
        assert server.proc.wait(timeout=15) == 0


def test_sigterm_drains_then_stops_in_order():
    server = start("inspection")
    assert wait_status(server.port, SERVING) == SERVING
    server.proc.send_signal(__import__("signal").SIGINT)
    assert server.proc.wait(timeout=15) == 0
    out = server.proc.stdout.read().decode()
    drained, stopped = out.find("draining calls"), out.rfind('"stopped"')
    assert 0 <= drained < stopped, out[-2000:]


def test_log_level_debug_adds_an_access_line_per_call_and_a_bad_level_is_refused():
    server = start("inspection", "--log-level", "debug")
    try:
        assert wait_status(server.port, SERVING) == SERVING
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            with pytest.raises(grpc.RpcError):
                ch.unary_unary("/tuoyu.audit.v1.AuditTrail/ListAuditEntries")(
                    b"", metadata=(("x-request-id", "req-42"),), timeout=5)
    finally:
        server.stop()
    out = server.proc.stdout.read().decode()
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    access = [x for x in lines if x.get("logger") == "tuoyu.access"
              and x.get("method") == "/tuoyu.audit.v1.AuditTrail/ListAuditEntries"]
    assert access, out[-2000:]
    assert access[0]["code"] == "UNAUTHENTICATED" and access[0]["request_id"] == "req-42" and float(access[0]["ms"]) >= 0
    # At the default level there are none.
    quiet = start("inspection")
    try:
        assert wait_status(quiet.port, SERVING) == SERVING
    finally:
        quiet.stop()
    assert "tuoyu.access" not in quiet.proc.stdout.read().decode()
    bad = subprocess.run([str(BIN / "tuoyu-inspection"), "--database-url", role_url("inspection"),
                          "--token-public-key", str(KEYS / "public.pem"), "--log-level", "loud"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 64 and "--log-level must be" in bad.stderr, bad.stderr


def test_server_limit_flags_reach_the_wire():
    """--header-timeout-s and --max-connection-idle-s, end to end over real sockets."""
    import socket
    import struct

    def frame(type_, flags, stream, payload=b""):
        return struct.pack(">I", len(payload))[1:] + bytes([type_, flags]) + struct.pack(">I", stream) + payload

    def frames_until_closed(s, seconds):
        s.settimeout(seconds)
        data, closed = b"", False
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    closed = True
                    break
                data += chunk
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
        types = []
        while len(data) >= 9:
            length = int.from_bytes(data[:3], "big")
            types.append(data[3])
            data = data[9 + length:]
        return types, closed

    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0)
    server = start("inspection", "--header-timeout-s", "1", "--max-connection-idle-s", "2")
    try:
        assert wait_status(server.port, SERVING) == SERVING
        # Slowloris: a header block begun and never finished is cut after 1 s.
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(preface + frame(1, 0x1, 1, b"\x83"))  # HEADERS without END_HEADERS
            started = time.monotonic()
            _, closed = frames_until_closed(s, 5)
            assert closed and 0.8 < time.monotonic() - started < 4
        # Idle: a connection that opens no stream is told GOAWAY after 2 s.
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(preface)
            started = time.monotonic()
            types, _ = frames_until_closed(s, 3.5)
            assert 7 in types, types  # GOAWAY
            assert time.monotonic() - started > 1.5
        assert status(server.port) == SERVING  # and the server serves on
    finally:
        server.proc.terminate()
        assert server.proc.wait(timeout=15) == 0
