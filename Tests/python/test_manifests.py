"""The deployment files as files: generated ones current, every Kubernetes overlay rendered offline
and valid against the Kubernetes schemas, and what the issue asks of them true of each object —
probes, non-root, read-only root, limits, a named grpc port, disruption budgets, autoscalers, and
network policies that admit exactly the declared callers (checked against the peers each
Deployment is configured to call)."""
import pathlib
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["health", "hrss", "finance", "health/dev", "hrss/dev", "finance/dev"]
DEPARTMENT_SERVICES = {"health": {"registry", "inspection"}, "hrss": {"workforce"}, "finance": {"subsidy"}}
KUBERNETES = ["1.27.0", "1.30.0", "1.33.0"]


def render(overlay):
    r = subprocess.run([sys.executable, str(K8S / "render"), str(K8S / overlay)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


@pytest.fixture(scope="module")
def rendered():
    return {o: render(o) for o in OVERLAYS}


def of(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_generated_deployment_files_are_current():
    for script in ("deploy/k8s/make-base", "deploy/compose/make-city"):
        r = subprocess.run([sys.executable, str(ROOT / script), "--check"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES)
def test_every_object_validates_against_the_kubernetes_schemas(rendered, overlay, version):
    for doc in rendered[overlay]:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_catches_a_wrong_field(rendered):
    doc = of(rendered["health"], "Deployment")["registry"]
    bad = yaml.safe_load(yaml.safe_dump(doc))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["prot"] = 8081
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES[-1], strict=True)


@pytest.mark.parametrize("department", ["health", "hrss", "finance"])
def test_each_department_runs_its_services_hardened_in_its_namespace(rendered, department):
    docs = rendered[department]
    namespace = f"tuoyu-{department}"
    assert of(docs, "Namespace")[namespace]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(d["metadata"].get("namespace") == namespace for d in docs if d["kind"] != "Namespace")
    deployments = of(docs, "Deployment")
    assert set(deployments) == DEPARTMENT_SERVICES[department]
    assert "StatefulSet" not in {d["kind"] for d in docs}  # Postgres is external outside dev
    services, pdbs, hpas = of(docs, "Service"), of(docs, "PodDisruptionBudget"), of(docs, "HorizontalPodAutoscaler")
    for name, d in deployments.items():
        pod = d["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        assert d["spec"]["replicas"] >= 2
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert set(c["resources"]["requests"]) == {"cpu", "memory"} and set(c["resources"]["limits"]) == {"cpu", "memory"}
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        # Native gRPC probes on the plaintext health port: readiness asks "", liveness "liveness".
        assert c["readinessProbe"]["grpc"] == {"port": ports["health"], "service": ""}
        assert c["livenessProbe"]["grpc"] == {"port": ports["health"], "service": "liveness"}
        assert c["image"] == f"localhost/tuoyu-{name}:latest"
        env = {e["name"]: e for e in c["env"]}
        # The database through a Secret; every other secret a mounted file, none a literal.
        assert env["TUOYU_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == f"tuoyu-{name}-db"
        assert env["TUOYU_TLS_CERT"]["value"].startswith("/run/secrets/")
        assert pod["volumes"][0]["secret"]["secretName"] == f"tuoyu-{name}"
        assert [p["name"] for p in services[name]["spec"]["ports"]][0] == "grpc"
        assert pdbs[name]["spec"]["minAvailable"] == 1
        assert hpas[name]["spec"]["scaleTargetRef"]["name"] == name and hpas[name]["spec"]["minReplicas"] >= 2
    assert "Secret" not in {d["kind"] for d in docs}
    assert of(docs, "NetworkPolicy")["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def admitted(policy):
    """(namespace, app) pairs, or ("ingress", None), that a policy admits to its grpc port."""
    out = set()
    for rule in policy["spec"]["ingress"]:
        if {"port": "grpc", "protocol": "TCP"} not in rule.get("ports", []):
            continue
        for source in rule["from"]:
            labels = source["namespaceSelector"]["matchLabels"]
            if labels.get("tuoyu.city/ingress") == "true":
                out.add(("ingress", None))
            else:
                out.add((labels["kubernetes.io/metadata.name"],
                         source["podSelector"]["matchLabels"]["app.kubernetes.io/name"]))
    return out


def test_network_policies_admit_exactly_the_declared_callers(rendered):
    docs = [d for dep in ("health", "hrss", "finance") for d in rendered[dep]]
    policies = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in docs if d["kind"] == "NetworkPolicy"}
    services = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs if d["kind"] == "Service"}
    # Who calls whom, from each Deployment's peers.
    calls = set()
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        for e in d["spec"]["template"]["spec"]["containers"][0]["env"]:
            if e["name"].startswith("TUOYU_PEER_"):
                host, port = e["value"].rsplit(":", 1)
                name, namespace, _ = host.split(".")
                assert (namespace, name) in services, e  # the peer's address is a Service that exists
                assert port == "50051"
                calls.add(((d["metadata"]["namespace"], d["metadata"]["name"]), (namespace, name)))
    for target in services:
        expected = {caller for caller, callee in calls if callee == target} | {("ingress", None)}
        assert admitted(policies[target]) == expected, target
    # What the issue names: the subsidy may call the registry; nothing calls the subsidy but the ingress.
    assert admitted(policies[("tuoyu-finance", "subsidy")]) == {("ingress", None)}
    assert ("tuoyu-finance", "subsidy") in admitted(policies[("tuoyu-health", "registry")])


@pytest.mark.parametrize("department", ["health", "hrss", "finance"])
def test_the_dev_overlay_adds_only_its_own_postgres(rendered, department):
    base, dev = rendered[department], rendered[f"{department}/dev"]
    added = [d for d in dev if (d["kind"], d["metadata"]["name"]) not in {(b["kind"], b["metadata"]["name"]) for b in base}]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in added) == [
        ("NetworkPolicy", "postgres"), ("Service", "postgres"), ("StatefulSet", "postgres")]
    (pg,) = [d for d in added if d["kind"] == "StatefulSet"]
    env = {e["name"]: e["value"] for e in pg["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert set(env["TUOYU_SERVICES"].split(",")) == DEPARTMENT_SERVICES[department]
    assert pg["metadata"]["namespace"] == f"tuoyu-{department}"


def test_compose_files_hold_no_secret_and_city_runs_every_department():
    city = yaml.safe_load((ROOT / "deploy/compose/city.yaml").read_text())
    assert set(city["services"]) == {"health-db", "registry", "inspection", "hrss-db", "workforce", "finance-db",
                                      "subsidy"}
    for name in ("health.yaml", "hrss.yaml", "finance.yaml", "city.yaml"):
        text = (ROOT / "deploy/compose" / name).read_text()
        assert "PRIVATE KEY" not in text and "password=" not in text.lower() and "eyJ" not in text
    for name, s in city["services"].items():
        for port in s.get("ports", []):
            assert port.startswith("${TUOYU_PUBLISH:-127.0.0.1}:"), (name, port)
        if not name.endswith("-db"):
            assert s["read_only"] is True
            assert s["environment"]["TUOYU_DATABASE_URL"].endswith("passfile=/run/secrets/tuoyu/db.pgpass")
