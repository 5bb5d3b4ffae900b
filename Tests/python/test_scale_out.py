"""Scale-out: two replicas of a service against one database behave as one. Two inspection
processes share a schema behind one registry: writes through both at once all land, once each, and
the change feed they publish stays one gapless sequence; both follow the registry's feed, and each
of its events is applied exactly once between them (their `tuoyu_change_feed_applied_total`
counters add up to the registry's events, and the cursor they share reaches the last)."""
import concurrent.futures
import json
import os
import subprocess
import time
import urllib.request

import pytest

from conftest import BIN, ROOT, Server, free_port, service_database

DB = os.environ.get("TUOYU_TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(DB is None, reason="needs TUOYU_TEST_DATABASE_URL (scripts/test sets it)")

KEYS = ROOT / ".run" / "test-keys-scale"
ROLES = ("registry.admin,registry.officer,registry.approver,registration,inspection.admin,"
         "inspection.county-inspector,leader")


def token(roles, subject="pytest"):
    return subprocess.run([str(BIN / "tuoyu-token"), "issue", "--key", str(KEYS / "private.pem"), "--subject", subject,
                           "--department", "health", "--roles", roles, "--ttl=900"],
                          check=True, capture_output=True, text=True).stdout.strip()


def cli(env, *args, addr=None):
    e = dict(env)
    if addr:
        e["TUOYU_INSPECTION_ADDR"] = addr
    return subprocess.run([str(BIN / "tuoyu"), *args], env=e, cwd=ROOT, capture_output=True, text=True, timeout=60)


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def sql(db, query):
    return subprocess.run(["psql", db, "-Atc", query], check=True, capture_output=True, text=True).stdout.strip()


def wait(predicate, seconds=60):
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def applied(metrics_port, source="registry"):
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith("tuoyu_change_feed_applied_total") and f'source="{source}"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


@pytest.fixture(scope="module")
def two_replicas():
    name = "tuoyu_scale_test"
    db = service_database(name)
    subprocess.run([str(BIN / "tuoyu-token"), "keygen", "--out", str(KEYS)], check=True, capture_output=True)
    for svc in ("registry", "inspection"):
        (KEYS / f"{svc}.token").write_text(token("service", subject=svc))
    rport = free_port()
    ports = [(free_port(), free_port()), (free_port(), free_port())]
    common = ["--health-interval-ms", "100", "--token-public-key", str(KEYS / "public.pem")]
    registry = Server([str(BIN / "tuoyu-registry"), "--listen", f"127.0.0.1:{rport}", "--metrics-listen", "off",
                       "--database-url", db.replace("postgres@", "tuoyu_registry@"), *common,
                       "--service-token-file", str(KEYS / "registry.token"),
                       "--peer-inspection", f"127.0.0.1:{ports[0][0]}"], rport)
    # Both replicas start at once: their migrations race too (one applies, the other waits and finds them done).
    replicas = [subprocess.Popen([str(BIN / "tuoyu-inspection"), "--listen", f"127.0.0.1:{p}",
                                  "--metrics-listen", f"127.0.0.1:{m}",
                                  "--database-url", db.replace("postgres@", "tuoyu_inspection@"), *common,
                                  "--service-token-file", str(KEYS / "inspection.token"),
                                  "--peer-registry", f"127.0.0.1:{rport}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p, m in ports]
    env = dict(os.environ, TUOYU_REGISTRY_ADDR=f"127.0.0.1:{rport}", TUOYU_TOKEN=token(ROLES))
    addrs = [f"127.0.0.1:{p}" for p, _ in ports]
    for addr in addrs:
        for _ in range(200):
            if cli(env, "inspection", "checklist", addr=addr).returncode == 0:
                break
            time.sleep(0.1)
    yield {"env": env, "db": db, "addrs": addrs, "metrics": [m for _, m in ports], "replicas": replicas}
    for proc in replicas:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    registry.stop()


def test_each_registry_event_is_applied_once_between_the_two_followers(two_replicas):
    env, db = two_replicas["env"], two_replicas["db"]
    ok(cli(env, "registry", "import-regions", "deploy/demo/regions.csv"))
    ok(cli(env, "registry", "import", "--quiet", "deploy/demo/institutions.csv"))
    events = int(sql(db, "SELECT count(*) FROM registry.outbox"))
    assert events > 20
    # Every event is given its feed position once no older transaction can overtake it.
    wait(lambda: sql(db, "SELECT count(*) FROM registry.outbox WHERE position IS NULL") == "0")
    last = int(sql(db, "SELECT max(position) FROM registry.outbox"))
    wait(lambda: int(sql(db, "SELECT coalesce(max(last_cursor), 0) FROM inspection.feed_cursor "
                             "WHERE source = 'registry'") or 0) >= last)
    assert int(sql(db, "SELECT last_cursor FROM inspection.feed_cursor WHERE source = 'registry'")) == last
    counts = [applied(m) for m in two_replicas["metrics"]]
    # Exactly once between them, whichever applied which.
    assert sum(counts) == events, counts
    # What they keep of the registry is the registry's: one row per institution.
    assert sql(db, "SELECT count(*) FROM inspection.institution_view") == sql(
        db, "SELECT count(*) FROM registry.institution")


def test_writes_through_both_replicas_at_once_land_once_each(two_replicas):
    env, db, addrs = two_replicas["env"], two_replicas["db"], two_replicas["addrs"]
    before = int(sql(db, "SELECT count(*) FROM inspection.inspection"))
    code = "91330502MA00000011"

    def record(i):
        addr = addrs[i % 2]
        return json.loads(ok(cli(env, "inspection", "record", "--at", code, "--level", "county", "--kind",
                                 "routine-patrol", "--date", "2025-06-03", "--inspector", f"巡查{i}", "--pass-all",
                                 "--finalise", "--request-id", f"scale-{i}", "-o", "json", addr=addr)))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        made = list(pool.map(record, range(24)))
    ids = [m["inspection_id"] for m in made]
    assert len(set(ids)) == 24
    # A retry of the same request through the other replica returns the same record, not a second.
    again = json.loads(ok(cli(env, "inspection", "record", "--at", code, "--level", "county", "--kind", "routine-patrol",
                              "--date", "2025-06-03", "--inspector", "巡查0", "--pass-all", "--finalise",
                              "--request-id", "scale-0", "-o", "json", addr=addrs[1])))
    assert again["inspection_id"] == made[0]["inspection_id"]
    assert int(sql(db, "SELECT count(*) FROM inspection.inspection")) == before + 24
    # Each replica reads what the other wrote.
    for addr in addrs:
        seen = json.loads(ok(cli(env, "inspection", "list", "--at", code, "-o", "json", addr=addr)))
        assert set(ids) <= {s["inspection_id"] for s in seen}
    # The change feed both publish into is one sequence without gaps or repeats, and the registry,
    # following it through one replica, applies every event of it.
    wait(lambda: sql(db, "SELECT count(*) FROM inspection.outbox WHERE position IS NULL") == "0")
    positions = [int(p) for p in sql(db, "SELECT position FROM inspection.outbox ORDER BY position").split()]
    assert positions == list(range(positions[0], positions[0] + len(positions)))
    wait(lambda: sql(db, "SELECT last_cursor FROM registry.feed_cursor WHERE source = 'inspection'") == str(positions[-1]))
