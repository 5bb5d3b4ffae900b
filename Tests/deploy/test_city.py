"""The city in real containers: the images built (deploy/images/build), development secrets made
(deploy/make-secrets), deploy/compose/city.yaml brought up with podman-compose on loopback ports,
the city's flow across the three departments (deploy/city-flow) through the CLI over TLS, each
service's health and metrics, a department's database backed up and restored into a fresh one
(the flow's read checks pass against it), and at the end nothing left running.

Needs rootful podman (deploy/containers-setup); scripts/test runs it after the other tests."""
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("TUOYU_BIN", ROOT / ".build" / "debug"))
COMPOSE = ROOT / "deploy" / "compose" / "city.yaml"
SERVICES = ["registry", "inspection", "workforce", "subsidy"]
PROJECT = f"tuoyu-test-{os.getpid()}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, env=None, check=True, timeout=1800, **kw):
    r = subprocess.run([str(a) for a in args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def leftovers(project=PROJECT):
    """What of a compose project is still there: containers, volumes, networks."""
    containers = run("podman", "ps", "-a", "-q", "--filter", f"label=io.podman.compose.project={project}").stdout.split()
    volumes = [v for v in run("podman", "volume", "ls", "-q").stdout.split() if v.startswith(project + "_")]
    networks = [n for n in run("podman", "network", "ls", "-q", "--format", "{{.Name}}").stdout.split()
                if n.startswith(project + "_")]
    return containers + volumes + networks


def bring_down(compose, env, project):
    """`down -v`, then the network podman-compose 1.0 leaves behind; returns what is still there."""
    run(*compose, "down", "-v", env=env, check=False)
    for net in run("podman", "network", "ls", "-q", "--format", "{{.Name}}").stdout.split():
        if net.startswith(project + "_"):
            run("podman", "network", "rm", "-f", net, check=False)
    return leftovers(project)


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    built = run(ROOT / "deploy/images/build", timeout=3600)
    sizes = dict(re.findall(r"^(\S+)\s+([\d.]+) MB$", built.stdout, re.M))
    secrets = tmp_path_factory.mktemp("city") / "secrets"
    run(ROOT / "deploy/make-secrets", "--dir", secrets, "--bin", BIN)
    ports = {f"TUOYU_{s.upper()}_PORT": free_port() for s in SERVICES}
    ports.update({f"TUOYU_{s.upper()}_METRICS_PORT": free_port() for s in SERVICES})
    env = dict(os.environ, TUOYU_SECRETS=str(secrets), **{k: str(v) for k, v in ports.items()})
    compose = ["podman-compose", "-p", PROJECT, "-f", COMPOSE]
    state = {"env": env, "secrets": secrets, "ports": ports, "compose": compose, "sizes": sizes}
    try:
        run(*compose, "up", "-d", env=env)
        yield state
    finally:
        for name in SERVICES:  # kept for the CI log when something failed
            logs = run("podman", "logs", "--tail", "20", f"{PROJECT}_{name}_1", check=False)
            print(f"--- {name}\n{logs.stdout[-2000:]}{logs.stderr[-2000:]}")
        if bring_down(compose, env, PROJECT):  # a failed run: clean up what down -v did not
            run("podman", "rm", "-af", "--filter", f"label=io.podman.compose.project={PROJECT}", check=False)
            for vol in run("podman", "volume", "ls", "-q").stdout.split():
                if vol.startswith(PROJECT + "_"):
                    run("podman", "volume", "rm", "-f", vol, check=False)


def flow(state, *extra):
    p = state["ports"]
    return run(sys.executable, ROOT / "deploy/city-flow", "--secrets", state["secrets"], "--cli", BIN / "tuoyu",
               "--registry", f"127.0.0.1:{p['TUOYU_REGISTRY_PORT']}",
               "--inspection", f"127.0.0.1:{p['TUOYU_INSPECTION_PORT']}",
               "--workforce", f"127.0.0.1:{p['TUOYU_WORKFORCE_PORT']}",
               "--subsidy", f"127.0.0.1:{p['TUOYU_SUBSIDY_PORT']}", *extra, timeout=600)


def metrics(state, service):
    port = state["ports"][f"TUOYU_{service.upper()}_METRICS_PORT"]
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def test_images_are_small_run_as_non_root_and_carry_a_health_check(city):
    for svc in SERVICES:
        image = f"localhost/tuoyu-{svc}:latest"
        info = json.loads(run("podman", "image", "inspect", image).stdout)[0]
        assert info["Config"]["User"] == "10001:10001"
        assert info["Healthcheck"]["Test"][-1] == "--health-check"
        assert float(city["sizes"][image]) < 300, city["sizes"]
        # Every library the executable needs is in the image, and nothing builds software there.
        ldd = run("podman", "run", "--rm", "--entrypoint", "ldd", image, f"/opt/tuoyu/tuoyu-{svc}").stdout
        assert "not found" not in ldd and "libnghttp2" in ldd and "libpq" in ldd
        tools = run("podman", "run", "--rm", "--entrypoint", "sh", image, "-c",
                    "command -v swift gcc cc make || true").stdout
        assert tools.strip() == ""


def test_the_city_flow_passes_across_the_departments_in_containers(city):
    out = flow(city).stdout
    assert "city-flow: passed" in out
    assert out.count("== ") >= 9


def test_each_service_is_healthy_and_serves_its_metrics(city):
    for svc in SERVICES:
        container = f"{PROJECT}_{svc}_1"
        assert run("podman", "healthcheck", "run", container, check=False).returncode == 0, svc
        text = metrics(city, svc)
        assert f'tuoyu_serving{{service="{svc}"}} 1' in text, svc
        # Secrets are files: no token, key or password in the container's environment.
        env = json.loads(run("podman", "inspect", container).stdout)[0]["Config"]["Env"]
        token = (city["secrets"] / svc / "service.token").read_text().strip()
        assert not any(token in e for e in env)
        assert not any("PRIVATE" in e or "password" in e.lower() for e in env)
    # Across departments, over TLS: the finance department applied the health department's feeds.
    text = metrics(city, "subsidy")
    for source in ("registry", "inspection"):
        m = re.search(rf'tuoyu_change_feed_applied_total{{source="{source}"}} (\d+)', text)
        assert m and int(m.group(1)) > 0, source


def test_a_backup_restored_into_a_fresh_database_passes_the_read_checks(city, tmp_path):
    compose, env = city["compose"], city["env"]
    db = f"{PROJECT}_finance-db_1"
    run(ROOT / "deploy/backup", "--container", db, "--out", tmp_path, "subsidy")
    run(ROOT / "deploy/backup", "--container", f"{PROJECT}_health-db_1", "--out", tmp_path, "registry", "inspection")
    assert (tmp_path / "subsidy.dump").stat().st_size > 1000
    # The finance department loses its database: a fresh volume, a fresh cluster.
    run(*compose, "stop", "subsidy", "finance-db", env=env)
    run("podman", "rm", "-f", f"{PROJECT}_subsidy_1", db)
    run("podman", "volume", "rm", f"{PROJECT}_finance-db")
    run(*compose, "up", "-d", "--no-deps", "finance-db", env=env)
    for _ in range(120):
        if run("podman", "exec", db, "pg_isready", "-q", "-h", "/var/run/postgresql", "-d", "tuoyu",
               check=False).returncode == 0:
            break
        time.sleep(0.5)
    empty = run("podman", "exec", db, "psql", "-Atc", "SELECT count(*) FROM pg_tables WHERE schemaname = 'subsidy'",
                "tuoyu").stdout.strip()
    assert empty == "0"
    # A damaged file is refused before anything is touched.
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    data = (tmp_path / "subsidy.dump").read_bytes()
    (damaged / "subsidy.dump").write_bytes(data[:-10] + b"0123456789")
    (damaged / "subsidy.sha256").write_text((tmp_path / "subsidy.sha256").read_text())
    assert run(ROOT / "deploy/restore", "--container", db, "--from", damaged, "subsidy", check=False).returncode == 65
    run(ROOT / "deploy/restore", "--container", db, "--from", tmp_path, "subsidy")
    run(*compose, "up", "-d", "--no-deps", "subsidy", env=env)
    assert "city-flow: passed" in flow(city, "--check-only").stdout
    # The restored schema is still its role's alone.
    owner = run("podman", "exec", db, "psql", "-Atc",
                "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'subsidy'", "tuoyu").stdout.strip()
    assert owner == "tuoyu_subsidy"


def test_a_department_brings_up_its_own_part_alone(city, tmp_path):
    """The health department's compose file on its own, as its operator runs it from the README:
    its services healthy, reachable over TLS, inspection following the registry; then gone."""
    project = f"{PROJECT}-health"
    ports = {"TUOYU_REGISTRY_PORT": free_port(), "TUOYU_INSPECTION_PORT": free_port(),
             "TUOYU_REGISTRY_METRICS_PORT": free_port(), "TUOYU_INSPECTION_METRICS_PORT": free_port()}
    env = dict(os.environ, TUOYU_SECRETS=str(city["secrets"]), **{k: str(v) for k, v in ports.items()})
    compose = ["podman-compose", "-p", project, "-f", ROOT / "deploy/compose/health.yaml"]
    try:
        run(*compose, "up", "-d", env=env)
        names = run("podman", "ps", "--format", "{{.Names}}", "--filter", f"label=io.podman.compose.project={project}")
        assert sorted(names.stdout.split()) == sorted(f"{project}_{s}_1" for s in ("health-db", "registry", "inspection"))
        cli = dict(os.environ, TUOYU_REGISTRY_ADDR=f"127.0.0.1:{ports['TUOYU_REGISTRY_PORT']}",
                   TUOYU_INSPECTION_ADDR=f"127.0.0.1:{ports['TUOYU_INSPECTION_PORT']}",
                   TUOYU_TOKEN_FILE=str(city["secrets"] / "operators" / "city-admin.token"), TUOYU_CONFIG=str(tmp_path / "c"))
        tls = ["--tls", "--ca", str(city["secrets"] / "ca.crt")]
        for _ in range(120):
            if run(BIN / "tuoyu", "inspection", "checklist", *tls, env=cli, check=False).returncode == 0:
                break
            time.sleep(0.5)
        run(BIN / "tuoyu", "registry", "import-regions", "deploy/demo/regions.csv", *tls, env=cli)
        for svc in ("registry", "inspection"):
            assert run("podman", "healthcheck", "run", f"{project}_{svc}_1", check=False).returncode == 0, svc
        # Inside the department, over TLS: inspection applies the registry's feed.
        port = ports["TUOYU_INSPECTION_METRICS_PORT"]
        for _ in range(60):
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            m = re.search(r'tuoyu_change_feed_applied_total{source="registry"} (\d+)', text)
            if m and int(m.group(1)) > 0:
                break
            time.sleep(0.5)
        assert m and int(m.group(1)) > 0
    finally:
        left = bring_down(compose, env, project)
    assert left == []


def test_nothing_is_left_running_when_the_city_is_brought_down(city):
    # Runs last in this module: bring it down here and look.
    assert bring_down(city["compose"], city["env"], PROJECT) == []
