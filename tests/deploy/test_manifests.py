"""Deployment artifacts, checked offline.

- The kustomize output of both overlays (k8s/overlays/dev, prod) validates against the
  Kubernetes JSON schemas of a current release (strict: unknown fields are errors). The schemas
  ship inside the PyPI package kubernetes-validate; CRD objects (ServiceMonitor) are checked
  against minimal schemas written here, and any other kind without a schema fails.
- The manifests, the Dockerfile and docker-compose.yml agree with the app: ports, probe paths,
  environment variable names (those config/settings.py reads), the data dir.
- The Dockerfile passes hadolint; docker-compose.yml loads with compose-go (the library
  `docker compose` uses: Compose spec schema and consistency checks).

The tools come from package registries through scripts/k8s-tools.sh into .tools/; nothing is
downloaded here. A missing tool fails these tests (never skips them).
"""

from __future__ import annotations

import ast
import base64
import functools
import hashlib
import json
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from config.settings import BetfairStreamConfig, MySQLConfig, Settings, UofFeedConfig

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"
KUSTOMIZE = TOOLS / "bin" / "kustomize"
COMPOSE_CHECK = TOOLS / "bin" / "compose-check"
TOOLS_PYTHON = TOOLS / "venv" / "bin" / "python"
HADOLINT = TOOLS / "venv" / "bin" / "hadolint"
INSTALL_HINT = "run scripts/k8s-tools.sh (installs kustomize, kubernetes-validate, hadolint and "
INSTALL_HINT += "compose-check into .tools/)"

OVERLAYS = ("dev", "prod")
EXPECTED_REPLICAS = {"dev": 1, "prod": 3}
# The current Kubernetes release and the oldest minor still supported upstream next to it.
K8S_VERSIONS = ("1.35.0", "1.37.0")

WORKER = "odds-worker"
HEADLESS = "odds-worker-headless"
API = "odds-api"
SECRET = "odds-secrets"
INIT_JOB = "odds-init"
SINK = "odds-sink"
# The live feed ingestors: Deployment (and Service, ServiceMonitor, NetworkPolicy) name ->
# provider (`faust -A app ingest <provider>`).
INGESTORS = {"odds-ingest-uof": "uof", "odds-ingest-betfair": "betfair"}
# dev keeps the Betfair ingestor at 0 until real credentials are in its Secret.
EXPECTED_INGEST_REPLICAS = {"dev": {"odds-ingest-uof": 1, "odds-ingest-betfair": 0},
                            "prod": {"odds-ingest-uof": 1, "odds-ingest-betfair": 1}}
# The Secret keys each ingestor cannot start without.
INGEST_REQUIRED_SECRETS = {"uof": {"UOF_AMQP_URL"},
                           "betfair": {"BETFAIR_APP_KEY", "BETFAIR_SESSION_TOKEN"}}
# Egress to the provider: AMQP over TLS (Sportradar), TLS (Betfair); dev adds plain AMQP for
# the namespace's RabbitMQ.
INGEST_PROVIDER_PORTS = {"uof": {("TCP", 5671)}, "betfair": {("TCP", 443)}}
DEV_EXTRA_PROVIDER_PORTS = {"uof": {("TCP", 5672)}, "betfair": set()}
# Components the first apply phase leaves out (docs/operations.md, "Deploy", step 4).
FIRST_PHASE_EXCLUDED = ("worker", "api", "sink", "ingest-uof", "ingest-betfair")
# The sink's health server binds every interface of its pod, for the probes.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - a value the manifests must carry, not a bind here
DATA_VOLUME = "data"
# Variables set on the pods that the app does not read itself: inputs of WEB_HOST.
POD_HELPERS = {"POD_NAME", "POD_NAMESPACE"}
WEB_HOST = f"$(POD_NAME).{HEADLESS}.$(POD_NAMESPACE).svc.cluster.local"
PROBES = {"readinessProbe": "/ready", "livenessProbe": "/health", "startupProbe": "/health"}

# Custom resources have no schema in kubernetes-validate: each allowed kind is validated against
# the minimal structural schema below (the fields this project relies on, types enforced).
_STRING = {"type": "string", "minLength": 1}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": _STRING, "namespace": _STRING, "labels": _LABELS},
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": _LABELS, "matchExpressions": {"type": "array"}},
                },
                "namespaceSelector": {"type": "object"},
                "jobLabel": {"type": "string"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": _STRING,
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "honorLabels": {"type": "boolean"},
                            "relabelings": {"type": "array"},
                            "metricRelabelings": {"type": "array"},
                        },
                    },
                },
            },
        },
    },
}
CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR_SCHEMA,
}

# Runs inside .tools/venv (kubernetes-validate, PyYAML): YAML on stdin, JSON on stdout.
VALIDATOR = r"""
import functools, json, sys
import yaml
from kubernetes_validate import utils
# Each object loads the same schema files: read each once.
utils.schema_contents = functools.lru_cache(maxsize=None)(utils.schema_contents)
versions = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
results = []
for doc in docs:
    for version in versions:
        entry = {"apiVersion": doc.get("apiVersion"), "kind": doc.get("kind"),
                 "name": (doc.get("metadata") or {}).get("name"), "version": version}
        try:
            entry["validated_against"] = utils.validate(doc, version, strict=True)
            entry["status"] = "valid"
        except utils.ValidationError as e:
            path = ".".join(str(p) for p in e.path) or "<root>"
            entry["status"], entry["message"] = "invalid", "%s: %s" % (path, e.message)
        except utils.SchemaNotFoundError as e:
            entry["status"], entry["message"] = "no-schema", e.message
        except utils.VersionNotSupportedError as e:
            entry["status"], entry["message"] = "unsupported-version", e.message
        results.append(entry)
json.dump({"objects": docs, "results": results}, sys.stdout)
"""


# --- tools -------------------------------------------------------------------------------------


def tool(path: Path) -> str:
    """Return the tool's path, or fail (never skip) with how to install it."""
    if not path.is_file() or not path.stat().st_mode & 0o111:
        pytest.fail(f"{path.relative_to(ROOT)} is missing: {INSTALL_HINT}", pytrace=False)
    return str(path)


def run(args: list[str], stdin: str | None = None, timeout: float = 90) -> str:
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{shlex.join(args)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}",
                    pytrace=False)
    return proc.stdout


def validate_yaml(text: str) -> dict[str, Any]:
    """Objects parsed from ``text`` and their validation results for every K8S_VERSIONS."""
    out = run([tool(TOOLS_PYTHON), "-I", "-c", VALIDATOR, *K8S_VERSIONS], stdin=text)
    result: dict[str, Any] = json.loads(out)
    return result


@functools.cache
def kustomize_build(overlay: str) -> str:
    return run([tool(KUSTOMIZE), "build", str(ROOT / "k8s" / "overlays" / overlay)])


@functools.cache
def built(overlay: str) -> dict[str, Any]:
    return validate_yaml(kustomize_build(overlay))


def objects(overlay: str) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = built(overlay)["objects"]
    return objs


def find(overlay: str, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects(overlay) if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{overlay}: expected one {kind} {name}, found {len(found)}"
    return found[0]


def of_kind(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in objects(overlay) if o["kind"] == kind]


def configmap(overlay: str) -> dict[str, Any]:
    maps = [o for o in of_kind(overlay, "ConfigMap")
            if o["metadata"]["name"].startswith("odds-settings")]
    assert len(maps) == 1, f"{overlay}: expected one odds-settings ConfigMap"
    return maps[0]


def worker_pod(overlay: str) -> dict[str, Any]:
    spec: dict[str, Any] = find(overlay, "StatefulSet", WORKER)["spec"]["template"]["spec"]
    return spec


def worker_container(overlay: str) -> dict[str, Any]:
    containers = worker_pod(overlay)["containers"]
    assert [c["name"] for c in containers] == ["worker"]
    container: dict[str, Any] = containers[0]
    return container


def sink_container(overlay: str) -> dict[str, Any]:
    containers = find(overlay, "Deployment", SINK)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["sink"]
    container: dict[str, Any] = containers[0]
    return container


def ingest_container(overlay: str, name: str) -> dict[str, Any]:
    containers = find(overlay, "Deployment", name)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["ingest"]
    container: dict[str, Any] = containers[0]
    return container


def ingest_containers(overlay: str) -> list[dict[str, Any]]:
    return [ingest_container(overlay, name) for name in INGESTORS]


def job_containers(overlay: str) -> list[dict[str, Any]]:
    spec = find(overlay, "Job", INIT_JOB)["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def selected(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- what the app reads (config/settings.py, parsed, not imported for this) ------------------


@functools.cache
def app_settings_calls() -> dict[str, ast.Call]:
    """Every environment variable config/settings.py reads, with the call that reads it."""
    tree = ast.parse((ROOT / "config" / "settings.py").read_text(encoding="utf-8"))
    names: dict[str, ast.Call] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (isinstance(func, ast.Attribute) and func.attr == "get"
                and isinstance(func.value, ast.Name) and func.value.id == "env"):
            arg = node.args[0] if node.args else None
        elif isinstance(func, ast.Name) and func.id in ("_int", "_float", "_secret", "_choice",
                                                        "_path", "_json_object"):
            arg = node.args[1] if len(node.args) > 1 else None
        else:
            continue
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names[arg.value] = node
            if isinstance(func, ast.Name) and func.id == "_secret":
                names[f"{arg.value}_FILE"] = node
    return names


def app_env_names() -> set[str]:
    return set(app_settings_calls())


def app_default(name: str) -> Any:
    call = app_settings_calls()[name]
    index = 1 if isinstance(call.func, ast.Attribute) else 2
    return ast.literal_eval(call.args[index])


def test_settings_parser_finds_the_documented_variables() -> None:
    names = app_env_names()
    for name in ("BROKER_URL", "MYSQL_DSN", "MYSQL_DSN_FILE", "WEB_HOST", "WEB_PORT",
                 "APP_DATADIR", "APP_ID", "TOPIC_PREFIX", "TOPIC_PARTITIONS"):
        assert name in names, f"{name} not found in config/settings.py"
    assert app_default("WEB_PORT") == 6066
    assert app_default("TOPIC_PARTITIONS") == 8
    # The ingestors' settings, read through every helper (_path, _json_object included).
    for name in ("INGEST_WEB_PORT", "UOF_AMQP_URL", "UOF_AMQP_URL_FILE", "UOF_ACCESS_TOKEN_FILE",
                 "UOF_ROUTING_KEYS", "UOF_EXCHANGE", "UOF_PREFETCH", "UOF_AMQP_CAFILE",
                 "BETFAIR_STREAM_URL", "BETFAIR_STREAM_CAFILE", "BETFAIR_APP_KEY_FILE",
                 "BETFAIR_SESSION_TOKEN_FILE", "BETFAIR_MARKET_FILTER", "BETFAIR_LADDER_LEVELS",
                 "BETFAIR_HEARTBEAT_MS", "BETFAIR_CONFLATE_MS", "BETFAIR_STREAM_NAME",
                 "KAFKA_SSL_CAFILE"):
        assert name in names, f"{name} not found in config/settings.py"
    assert app_default("INGEST_WEB_PORT") == 6072
    assert app_default("BETFAIR_MARKET_FILTER") == "{}"


# --- the tools are there -----------------------------------------------------------------------


def test_tools_installed() -> None:
    for path in (KUSTOMIZE, TOOLS_PYTHON, HADOLINT, COMPOSE_CHECK):
        tool(path)


# --- schemas -----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_kubernetes_schemas(overlay: str) -> None:
    results = built(overlay)["results"]
    assert results, f"{overlay}: kustomize built nothing"
    problems = []
    for r in results:
        what = f"{r['kind']}/{r['name']} ({r['apiVersion']}, Kubernetes {r['version']})"
        if r["status"] == "valid":
            wanted = ".".join(r["version"].split(".")[:2])
            if r["validated_against"] != wanted:
                problems.append(f"{what}: only schemas of {r['validated_against']} were found")
        elif r["status"] == "no-schema" and (r["apiVersion"], r["kind"]) in CRD_SCHEMAS:
            continue  # checked by test_custom_resources_validate_against_their_schemas
        else:
            problems.append(f"{what}: {r['status']}: {r.get('message', '')}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_validate_against_their_schemas(overlay: str) -> None:
    custom = [o for o in objects(overlay) if (o["apiVersion"], o["kind"]) in CRD_SCHEMAS]
    assert {o["kind"] for o in custom} == {"ServiceMonitor"}
    for obj in custom:
        jsonschema.Draft202012Validator(CRD_SCHEMAS[obj["apiVersion"], obj["kind"]]).validate(obj)


def test_validator_rejects_broken_objects() -> None:
    """Negative control: the schemas really are applied, strictly."""
    sts = json.loads(json.dumps(find("dev", "StatefulSet", WORKER)))
    sts["spec"]["replicas"] = "three"
    sts["spec"]["template"]["spec"]["containers"][0]["portz"] = []
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "x"}}
    results = validate_yaml(json.dumps(sts) + "\n---\n" + json.dumps(unknown))["results"]
    assert {(r["kind"], r["status"]) for r in results} == {
        ("StatefulSet", "invalid"), ("Gadget", "no-schema")}
    bad_monitor = json.loads(json.dumps(find("dev", "ServiceMonitor", WORKER)))
    bad_monitor["spec"]["endpoints"][0]["path"] = "metrics"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad_monitor, SERVICE_MONITOR_SCHEMA)


def test_kustomizations_load_nothing_remote() -> None:
    for path in (ROOT / "k8s").rglob("kustomization.yaml"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(https?://|github\.com|\?ref=)", text), (
            f"{path.relative_to(ROOT)} refers to a remote resource: the build must stay offline")


# --- what the overlays contain -----------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_has_every_object(overlay: str) -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"].split("-")[0] if o["kind"] == "ConfigMap"
                    else o["metadata"]["name"]) for o in objects(overlay))
    expected = [
        ("ConfigMap", "odds"), ("Job", INIT_JOB), ("NetworkPolicy", "odds-init"),
        ("NetworkPolicy", WORKER), ("PodDisruptionBudget", WORKER), ("Service", API),
        ("Service", HEADLESS), ("ServiceMonitor", WORKER), ("StatefulSet", WORKER),
        ("Deployment", SINK), ("NetworkPolicy", SINK), ("Service", SINK),
        ("ServiceMonitor", SINK),
    ]
    for name in INGESTORS:
        expected += [("Deployment", name), ("Service", name), ("ServiceMonitor", name),
                     ("NetworkPolicy", name)]
    if overlay == "dev":
        expected += [("Namespace", "odds-dev"), ("Secret", SECRET)]
    # prod: no Secret (a placeholder must never overwrite the real credentials) and no
    # Namespace (`kubectl delete -k` must not take the volumes with it).
    assert kinds == sorted(expected)
    namespaces = {o["metadata"].get("namespace") for o in objects(overlay)
                  if o["kind"] != "Namespace"}
    assert namespaces == {"odds-dev" if overlay == "dev" else "odds"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_first_apply_phase_selects_what_the_init_job_needs(overlay: str) -> None:
    """docs/operations.md applies `-l 'app.kubernetes.io/component notin (worker,api,sink,
    ingest-uof,ingest-betfair)'` first (settings, Secret, Namespace, init Job), waits for the
    Job, then applies everything."""
    first = sorted(
        (o["kind"], o["metadata"]["name"]) for o in objects(overlay)
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        not in FIRST_PHASE_EXCLUDED)
    expected = [("ConfigMap", configmap(overlay)["metadata"]["name"]), ("Job", INIT_JOB),
                ("NetworkPolicy", "odds-init")]
    if overlay == "dev":
        expected += [("Namespace", "odds-dev"), ("Secret", SECRET)]
    assert first == sorted(expected)


def test_docs_apply_the_first_phase_this_test_checks() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    selectors = re.findall(r"-l '(app\.kubernetes\.io/component notin \(([^)]*)\))'", text)
    assert selectors, "docs/operations.md no longer shows the first apply phase"
    for _, components in selectors:
        assert tuple(c.strip() for c in components.split(",")) == FIRST_PHASE_EXCLUDED


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_replicas_never_exceed_partitions(overlay: str) -> None:
    replicas = find(overlay, "StatefulSet", WORKER)["spec"]["replicas"]
    partitions = int(configmap(overlay)["data"]["TOPIC_PARTITIONS"])
    assert replicas == EXPECTED_REPLICAS[overlay]
    assert 1 <= replicas <= partitions, (
        f"{overlay}: {replicas} workers for {partitions} partitions; raise partitions first")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_statefulset_is_shaped_for_faust(overlay: str) -> None:
    sts = find(overlay, "StatefulSet", WORKER)
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["serviceName"] == HEADLESS
    assert selected(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
    assert pod["terminationGracePeriodSeconds"] >= 60
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001

    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == DATA_VOLUME
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"]

    container = worker_container(overlay)
    assert container["args"] == ["worker", "-l", "info"]
    for bound in ("requests", "limits"):
        assert set(container["resources"][bound]) >= {"cpu", "memory"}, f"{bound} incomplete"

    env = container["env"]
    names = [e["name"] for e in env]
    by_name = {e["name"]: e for e in env}
    assert by_name["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert by_name["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert by_name["WEB_HOST"]["value"] == WEB_HOST
    # $(VAR) only expands variables defined earlier in the list.
    assert names.index("WEB_HOST") > max(names.index("POD_NAME"), names.index("POD_NAMESPACE"))

    refs = {(k, v["name"]) for src in container["envFrom"] for k, v in src.items()}
    assert refs == {("configMapRef", configmap(overlay)["metadata"]["name"]),
                    ("secretRef", SECRET)}
    if overlay == "dev":
        find(overlay, "Secret", SECRET)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_and_selectors_match_the_workers(overlay: str) -> None:
    pod_labels = find(overlay, "StatefulSet", WORKER)["spec"]["template"]["metadata"]["labels"]
    headless = find(overlay, "Service", HEADLESS)
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    api = find(overlay, "Service", API)
    assert api["spec"].get("type", "ClusterIP") == "ClusterIP"
    for service in (headless, api):
        assert selected(service["spec"]["selector"], pod_labels), service["metadata"]["name"]
        assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]

    pdb = find(overlay, "PodDisruptionBudget", WORKER)
    assert selected(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert pdb["spec"]["maxUnavailable"] == 1

    monitor = find(overlay, "ServiceMonitor", WORKER)
    monitored = [s for s in of_kind(overlay, "Service")
                 if selected(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
    assert [s["metadata"]["name"] for s in monitored] == [HEADLESS]
    port_names = {p["name"] for p in headless["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"


def _ports(rule: dict[str, Any]) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p["port"]) for p in rule.get("ports", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_admit_only_what_is_needed(overlay: str) -> None:
    web_port = int(configmap(overlay)["data"]["WEB_PORT"])
    # 9094: the SASL listener (docs/security.md).
    backends = {("UDP", 53), ("TCP", 53), ("TCP", 9092), ("TCP", 9093), ("TCP", 9094),
                ("TCP", 3306)}
    pod_labels = find(overlay, "StatefulSet", WORKER)["spec"]["template"]["metadata"]["labels"]

    worker = find(overlay, "NetworkPolicy", WORKER)["spec"]
    assert selected(worker["podSelector"]["matchLabels"], pod_labels)
    assert sorted(worker["policyTypes"]) == ["Egress", "Ingress"]
    assert worker["ingress"], "workers must be reachable on their HTTP port"
    for rule in worker["ingress"]:
        assert _ports(rule) == {("TCP", web_port)}, "ingress must be limited to the HTTP port"
    egress: set[tuple[str, int]] = set()
    for rule in worker["egress"]:
        ports = _ports(rule)
        assert ports, "an egress rule without ports opens every port"
        if ("TCP", web_port) in ports:
            # Peer workers only (table_route forwarding).
            assert ports == {("TCP", web_port)}
            assert [selected(t["podSelector"]["matchLabels"], pod_labels) for t in rule["to"]] \
                == [True]
        egress |= ports
    # 443: the recovery service's calls to the provider's API (UOF_API_URL).
    assert egress == backends | {("TCP", web_port), ("TCP", 443)}

    job_labels = find(overlay, "Job", INIT_JOB)["spec"]["template"]["metadata"]["labels"]
    init = find(overlay, "NetworkPolicy", "odds-init")["spec"]
    assert selected(init["podSelector"]["matchLabels"], job_labels)
    assert not selected(init["podSelector"]["matchLabels"], pod_labels)
    assert sorted(init["policyTypes"]) == ["Egress", "Ingress"]
    assert init.get("ingress", []) == []
    assert set().union(*(_ports(r) for r in init["egress"])) == backends


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_init_job_creates_topics_then_migrates(overlay: str) -> None:
    job = find(overlay, "Job", INIT_JOB)
    pod = job["spec"]["template"]["spec"]
    assert [c["args"] for c in pod["initContainers"]] == [["create-topics"]]
    assert [c["args"] for c in pod["containers"]] == [["migrate"]]
    assert pod["restartPolicy"] == "Never"
    worker = worker_container(overlay)
    for container in job_containers(overlay):
        assert container["image"] == worker["image"]
        assert "command" not in container, "use the image's ENTRYPOINT (faust -A app)"
        assert container["envFrom"] == worker["envFrom"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned(overlay: str) -> None:
    images = {c["image"] for c in [worker_container(overlay), sink_container(overlay),
                                     *ingest_containers(overlay), *job_containers(overlay)]}
    assert len(images) == 1
    (image,) = images
    assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), image


# --- manifests and app agree -------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_agree_with_the_app(overlay: str) -> None:
    web_port = app_default("WEB_PORT")
    data = configmap(overlay)["data"]
    container = worker_container(overlay)

    # Ports: the container port is the app's default WEB_PORT, and the ConfigMap agrees.
    (port,) = container["ports"]
    assert (port["name"], port["containerPort"]) == ("http", web_port)
    assert int(data["WEB_PORT"]) == web_port
    assert {p["port"] for p in find(overlay, "Service", HEADLESS)["spec"]["ports"]} == {web_port}

    # Probe paths.
    for probe, path in PROBES.items():
        assert container[probe]["httpGet"]["path"] == path, probe
        assert container[probe]["httpGet"]["port"] in ("http", web_port), probe

    # Every variable set anywhere is one the app reads (or an input of WEB_HOST).
    known = app_env_names() | POD_HELPERS
    set_names = set(data)
    for secret in of_kind(overlay, "Secret"):
        set_names |= set(secret.get("stringData", {})) | set(secret.get("data", {}))
    for c in [container, sink_container(overlay), *ingest_containers(overlay),
              *job_containers(overlay)]:
        set_names |= {e["name"] for e in c.get("env", [])}
    assert set_names - known == set(), f"the app reads no {sorted(set_names - known)}"

    # The data dir is the volume.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[DATA_VOLUME] == data["APP_DATADIR"]
    for c in job_containers(overlay):
        assert {m["name"]: m["mountPath"] for m in c["volumeMounts"]}[DATA_VOLUME] == \
            data["APP_DATADIR"]

    # And the app accepts the whole environment a pod gets.
    env = dict(data)
    env["MYSQL_DSN"] = "mysql://betting:secret@mysql:3306/betting"
    env["WEB_HOST"] = WEB_HOST.replace("$(POD_NAME)", f"{WORKER}-0").replace(
        "$(POD_NAMESPACE)", "ns")
    settings = Settings.from_env(env)
    assert settings.web_port == web_port
    assert str(settings.datadir) == mounts[DATA_VOLUME]
    assert settings.store == "rocksdb://"
    assert settings.web_host == f"{WORKER}-0.{HEADLESS}.ns.svc.cluster.local"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sink_runs_as_its_own_deployment(overlay: str) -> None:
    data = configmap(overlay)["data"]
    assert data["SINK_MODE"] == "separate", "workers must not run the sink the Deployment runs"
    sink_port = int(data["SINK_WEB_PORT"])
    assert app_default("SINK_WEB_PORT") == sink_port
    worker, sink = worker_container(overlay), sink_container(overlay)
    assert sink["args"] == ["mysql-sink"]
    assert "command" not in sink, "use the image's ENTRYPOINT (faust -A app)"
    assert (sink["image"], sink["envFrom"]) == (worker["image"], worker["envFrom"])
    (port,) = sink["ports"]
    assert (port["name"], port["containerPort"]) == ("http", sink_port)
    assert {e["name"]: e.get("value") for e in sink["env"]} == {"WEB_HOST": ALL_INTERFACES}
    for probe, path in PROBES.items():
        assert sink[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    for bound in ("requests", "limits"):
        assert set(sink["resources"][bound]) >= {"cpu", "memory"}, f"{bound} incomplete"
    assert sink["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in sink["volumeMounts"]}
    assert {data["APP_DATADIR"], "/tmp"} <= mounts  # noqa: S108 - a mount path, not a file

    deployment = find(overlay, "Deployment", SINK)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    worker_labels = find(overlay, "StatefulSet", WORKER)["spec"]["template"]["metadata"]["labels"]
    assert selected(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    for name in (API, HEADLESS):
        assert not selected(find(overlay, "Service", name)["spec"]["selector"], pod_labels), \
            f"{name} must not send traffic to the sink"
    service = find(overlay, "Service", SINK)
    assert selected(service["spec"]["selector"], pod_labels)
    assert not selected(service["spec"]["selector"], worker_labels)
    monitor = find(overlay, "ServiceMonitor", SINK)
    monitored = [s["metadata"]["name"] for s in of_kind(overlay, "Service")
                 if selected(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
    assert monitored == [SINK]

    # The sink's policy: its port from monitoring only; the workers' backends, and no peers.
    policy = find(overlay, "NetworkPolicy", SINK)["spec"]
    assert selected(policy["podSelector"]["matchLabels"], pod_labels)
    assert not selected(policy["podSelector"]["matchLabels"], worker_labels)
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    for rule in policy["ingress"]:
        assert _ports(rule) == {("TCP", sink_port)}
    web_port = int(data["WEB_PORT"])
    backends = set().union(*(_ports(r) for r in
                             find(overlay, "NetworkPolicy", WORKER)["spec"]["egress"]))
    assert set().union(*(_ports(r) for r in policy["egress"])) == backends - {
        ("TCP", web_port), ("TCP", 443)}
    # The app accepts the sink pod's environment too.
    env = {**data, "MYSQL_DSN": "mysql://betting:secret@mysql:3306/betting",
           "WEB_HOST": ALL_INTERFACES}
    assert Settings.from_env(env).sink_mode == "separate"


def _secret_refs(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The container's variables taken from Secret keys: name -> secretKeyRef."""
    return {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})}


def _ingest_pod_env(overlay: str, name: str) -> dict[str, str]:
    """The environment an ingestor pod gets: the ConfigMap, its literal variables and its
    Secret keys (dev: the example Secret's placeholders; prod: values of the documented
    shape)."""
    container = ingest_container(overlay, name)
    env = dict(configmap(overlay)["data"])
    env.update({e["name"]: e["value"] for e in container["env"] if "value" in e})
    if overlay == "dev":
        secret = find(overlay, "Secret", SECRET)["stringData"]
    else:
        secret = {"UOF_AMQP_URL": "amqps://mq.betradar.com:5671/unifiedfeed/12345",
                  "UOF_ACCESS_TOKEN": "token", "BETFAIR_APP_KEY": "key",
                  "BETFAIR_SESSION_TOKEN": "session"}
    env.update({ref_name: secret[ref["key"]] for ref_name, ref in _secret_refs(container).items()
                if ref["key"] in secret})
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("name", sorted(INGESTORS))
def test_ingestors_run_as_single_recreated_deployments(overlay: str, name: str) -> None:
    provider = INGESTORS[name]
    data = configmap(overlay)["data"]
    port = int(data["INGEST_WEB_PORT"])
    assert port == app_default("INGEST_WEB_PORT")

    # One replica at most, never two at once: each AMQP connection gets its own queue (two
    # UOF ingestors would each receive every message) and Betfair limits connections per key.
    deployment = find(overlay, "Deployment", name)
    spec = deployment["spec"]
    assert spec["replicas"] == EXPECTED_INGEST_REPLICAS[overlay][name]
    assert spec["strategy"] == {"type": "Recreate"}
    pod_labels = spec["template"]["metadata"]["labels"]
    assert selected(spec["selector"]["matchLabels"], pod_labels)
    pod = spec["template"]["spec"]
    assert pod["enableServiceLinks"] is False
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}

    container = ingest_container(overlay, name)
    worker = worker_container(overlay)
    assert container["args"] == ["ingest", provider]
    assert "command" not in container, "use the image's ENTRYPOINT (faust -A app)"
    assert container["image"] == worker["image"]
    (container_port,) = container["ports"]
    assert (container_port["name"], container_port["containerPort"]) == ("http", port)
    for probe, path in PROBES.items():
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    for bound in ("requests", "limits"):
        assert set(container["resources"][bound]) >= {"cpu", "memory"}, f"{bound} incomplete"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {data["APP_DATADIR"], "/tmp"} <= mounts  # noqa: S108 - a mount path, not a file

    # Settings from the ConfigMap; secrets key by key (not the whole Secret), each under its
    # own name; only the provider's own ones are required.
    assert container["envFrom"] == [
        {"configMapRef": {"name": configmap(overlay)["metadata"]["name"]}}]
    literal = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert literal == {"WEB_HOST": ALL_INTERFACES}
    refs = _secret_refs(container)
    assert len(refs) + len(literal) == len(container["env"])
    assert all(ref["name"] == SECRET and ref["key"] == ref_name for ref_name, ref in refs.items())
    required = {ref_name for ref_name, ref in refs.items() if not ref.get("optional", False)}
    assert required == INGEST_REQUIRED_SECRETS[provider]
    assert "MYSQL_DSN" not in refs
    if overlay == "dev":
        assert required <= set(find(overlay, "Secret", SECRET)["stringData"]), \
            "the example Secret must hold every key an ingestor requires"

    # Its own Service and ServiceMonitor, for Prometheus; no other Service selects it.
    service = find(overlay, "Service", name)
    assert selected(service["spec"]["selector"], pod_labels)
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert [(p["name"], p["targetPort"]) for p in service["spec"]["ports"]] == [("http", "http")]
    others = [s["metadata"]["name"] for s in of_kind(overlay, "Service")
              if selected(s["spec"]["selector"], pod_labels)]
    assert others == [name]
    monitor = find(overlay, "ServiceMonitor", name)
    monitored = [s["metadata"]["name"] for s in of_kind(overlay, "Service")
                 if selected(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
    assert monitored == [name]
    assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [("http", "/metrics")]
    if overlay == "prod":
        assert monitor["metadata"]["labels"]["release"] == \
            find(overlay, "ServiceMonitor", WORKER)["metadata"]["labels"]["release"]

    # Network: its port from monitoring only; DNS, Kafka and the provider out, nothing else.
    policy = find(overlay, "NetworkPolicy", name)["spec"]
    worker_labels = find(overlay, "StatefulSet", WORKER)["spec"]["template"]["metadata"]["labels"]
    assert selected(policy["podSelector"]["matchLabels"], pod_labels)
    assert not selected(policy["podSelector"]["matchLabels"], worker_labels)
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    assert policy["ingress"]
    for rule in policy["ingress"]:
        assert _ports(rule) == {("TCP", port)}
        assert [f["namespaceSelector"]["matchLabels"] for f in rule["from"]] == [
            {"kubernetes.io/metadata.name": "monitoring"}]
    for rule in policy["egress"]:
        assert _ports(rule), "an egress rule without ports opens every port"
        assert "to" not in rule
    egress = set().union(*(_ports(r) for r in policy["egress"]))
    kafka_dns = {("UDP", 53), ("TCP", 53), ("TCP", 9092), ("TCP", 9093), ("TCP", 9094)}
    provider_ports = INGEST_PROVIDER_PORTS[provider] | (
        DEV_EXTRA_PROVIDER_PORTS[provider] if overlay == "dev" else set())
    assert egress == kafka_dns | provider_ports
    for other in INGESTORS:
        if other != name:
            other_labels = find(overlay, "Deployment", other)["spec"]["template"]["metadata"][
                "labels"]
            assert not selected(policy["podSelector"]["matchLabels"], other_labels)

    # The app accepts the pod's environment, and the policy admits the provider it points at.
    env = _ingest_pod_env(overlay, name)
    settings = Settings.from_env(env)
    assert (settings.web_host, settings.ingest_web_port) == (ALL_INTERFACES, port)
    if provider == "uof":
        uof = UofFeedConfig.from_env(env, settings.uof_access_token)
        assert ("TCP", uof.port) in egress
        assert uof.routing_keys and uof.exchange == "unifiedfeed"
        if overlay == "prod":
            assert (uof.tls, uof.vhost, uof.username, uof.password) == (
                True, "/unifiedfeed/12345", "token", "")
    else:
        betfair = BetfairStreamConfig.from_env(env)
        assert ("TCP", betfair.port) in egress
        assert betfair.host == "stream-api.betfair.com"
        assert betfair.market_filter, "the ConfigMap chooses the markets: BETFAIR_MARKET_FILTER"


def test_secret_example_holds_placeholders_only() -> None:
    secret = find("dev", "Secret", SECRET)
    assert "data" not in secret, "use stringData with placeholders, never encoded values"
    values = secret["stringData"]
    assert set(values) == {"MYSQL_DSN", "UOF_AMQP_URL", "BETFAIR_APP_KEY",
                           "BETFAIR_SESSION_TOKEN"}
    for name, value in values.items():
        assert "CHANGE_ME" in value, f"{name} must be a placeholder"
    assert MySQLConfig.from_dsn(values["MYSQL_DSN"]).password == "CHANGE_ME"
    # The placeholder URL names its user, so the ingestor starts without UOF_ACCESS_TOKEN
    # (which stays out of the example: the workers' recovery service would send it).
    assert UofFeedConfig.from_env(values, "").password == "CHANGE_ME"


# --- Dockerfile --------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions of each stage, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw.strip())
        pending = ""
    stages: list[list[tuple[str, str]]] = [[]]
    for line in lines:
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        stages[-1].append((word.upper(), rest.strip()))
    return stages


def test_dockerfile_passes_hadolint() -> None:
    proc = subprocess.run([tool(HADOLINT), "--no-color", "-f", "json", "Dockerfile"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], "hadolint:\n" + "\n".join(
        f"  line {f['line']}: {f['code']} ({f['level']}) {f['message']}" for f in findings)
    assert proc.returncode == 0, proc.stderr


def test_hadolint_reports_a_bad_dockerfile() -> None:
    """Negative control: the linter really runs."""
    bad = "FROM debian\nRUN cd /src && make\nCOPY a b c\n"
    proc = subprocess.run([tool(HADOLINT), "--no-color", "-f", "json", "-"], input=bad,
                          capture_output=True, text=True, timeout=60, check=False)
    codes = {f["code"] for f in json.loads(proc.stdout)}
    assert {"DL3006", "DL3003", "DL3021"} <= codes
    assert proc.returncode != 0


def test_dockerfile_agrees_with_the_app() -> None:
    stages = dockerfile_stages()
    preamble, builder, runtime = stages[0], stages[1], stages[-1]
    assert len(stages) == 3, "two stages: builder and runtime"
    args = dict(a[1].split("=", 1) for a in preamble + runtime if a[0] == "ARG" and "=" in a[1])
    assert args["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
    assert builder[0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert runtime[0] == ("FROM", "${PYTHON_IMAGE} AS runtime")
    assert any(i == "RUN" and "pip wheel" in a for i, a in builder)

    env: dict[str, str] = {}
    for instr, rest in runtime:
        if instr == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(rest))
    foreign = {n for n in env if not n.startswith(("PYTHON", "PIP_"))} - app_env_names()
    assert foreign == set(), f"the app reads no {sorted(foreign)}"

    def one(instr: str) -> str:
        found = [rest for i, rest in runtime if i == instr]
        assert len(found) == 1, f"one {instr} expected in the runtime stage"
        return found[0]

    assert json.loads(one("VOLUME")) == [env["APP_DATADIR"]]
    assert int(one("EXPOSE")) == int(env["WEB_PORT"]) == app_default("WEB_PORT")
    user = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], one("USER"))
    assert user == "10001:10001"
    assert json.loads(one("ENTRYPOINT")) == ["faust", "-A", "app"]
    assert json.loads(one("CMD")) == ["worker", "-l", "info"]
    healthcheck = one("HEALTHCHECK")
    assert "urllib.request" in healthcheck and "/health" in healthcheck
    assert "http://127.0.0.1:" in healthcheck and "WEB_PORT" in healthcheck
    assert "curl" not in healthcheck and "WEB_HOST" not in env


def test_dockerignore_keeps_the_context_small() -> None:
    entries = {
        line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".kafka", ".tools", "data", ".pytest_cache", ".mypy_cache",
            ".ruff_cache"} <= entries
    copied = {"pyproject.toml", "README.md", "app", "agents", "config", "feeds", "ingest",
              "models", "sinks", "tables", "web"}
    assert not copied & entries, "the build needs these"


def test_dockerfile_copies_every_package() -> None:
    """The builder stage copies every package pyproject.toml ships: a package left out is
    silently missing from the wheel, and the app's autodiscovered modules import them all (a
    missing ``ingest`` broke every ``faust -A app`` command in the image)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {pattern.rstrip("*")
                for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    builder = dockerfile_stages()[1]
    copied = set()
    for instr, rest in builder:
        if instr == "COPY":
            *sources, target = shlex.split(rest)
            copied |= {src for src in sources if f"./{src}" == target}
    assert packages <= {p.name for p in ROOT.iterdir() if p.is_dir()}
    assert copied == packages, f"COPY the packages {sorted(packages - copied)}; " \
        f"copied but not packaged: {sorted(copied - packages)}"


# --- docker-compose.yml ------------------------------------------------------------------------


@functools.cache
def compose() -> dict[str, Any]:
    project: dict[str, Any] = json.loads(
        run([tool(COMPOSE_CHECK), str(ROOT / "docker-compose.yml")]))
    return project


def test_compose_file_is_valid() -> None:
    assert set(compose()["services"]) == {"kafka", "mysql", "rabbitmq", "init", "worker", "demo",
                                          "ingest-uof", "ingest-betfair"}


def test_compose_agrees_with_the_app() -> None:
    services = compose()["services"]
    known = app_env_names()
    for name in ("init", "worker", "demo", "ingest-uof", "ingest-betfair"):
        svc = services[name]
        assert svc["image"] == "odds-platform:local"
        assert svc["build"]["dockerfile"] == "Dockerfile"
        assert Path(svc["build"]["context"]) == ROOT
        unknown = set(svc["environment"]) - known
        assert unknown == set(), f"{name}: the app reads no {sorted(unknown)}"
        env = svc["environment"]
        assert env["BROKER_URL"] == "kafka://kafka:9092"
        assert env["TOPIC_PARTITIONS"] == str(app_default("TOPIC_PARTITIONS"))

    worker = services["worker"]
    env = worker["environment"]
    assert env["WEB_HOST"] == "worker" == worker["hostname"]
    assert [p["target"] for p in worker["ports"]] == [int(env["WEB_PORT"])]
    assert int(env["WEB_PORT"]) == app_default("WEB_PORT")
    assert [v["target"] for v in worker["volumes"]] == [env["APP_DATADIR"]]
    assert "/health" in " ".join(worker["healthcheck"]["test"])
    assert {k: v["condition"] for k, v in worker["depends_on"].items()} == {
        "init": "service_completed_successfully", "kafka": "service_healthy",
        "mysql": "service_healthy"}

    init = services["init"]
    script = " ".join(init["command"])
    assert "faust -A app create-topics" in script and "faust -A app migrate" in script
    assert script.index("create-topics") < script.index("migrate")
    assert {v["condition"] for v in init["depends_on"].values()} == {"service_healthy"}

    demo = services["demo"]
    assert demo["profiles"] == ["demo"]
    assert demo["command"][0] == "generate"

    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:4\.0\.\d+", kafka["image"])
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "PLAINTEXT://kafka:9092" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka["healthcheck"]["test"]

    mysql = services["mysql"]
    assert mysql["image"] == "mysql:8.0"
    dsn = MySQLConfig.from_dsn(env["MYSQL_DSN"])
    menv = mysql["environment"]
    assert (dsn.host, dsn.port) == ("mysql", 3306)
    assert (menv["MYSQL_DATABASE"], menv["MYSQL_USER"], menv["MYSQL_PASSWORD"]) == (
        dsn.database, dsn.user, dsn.password)
    assert mysql["healthcheck"]["test"]

    # The UOF ingestor's broker: definitions (vhost, user, topic exchange) loaded at boot.
    rabbitmq = services["rabbitmq"]
    assert re.fullmatch(r"rabbitmq:3\.\d+", rabbitmq["image"])
    mounts = {v["target"]: Path(v["source"]) for v in rabbitmq["volumes"] if v["type"] == "bind"}
    conf = mounts["/etc/rabbitmq/rabbitmq.conf"].read_text(encoding="utf-8")
    assert re.search(r"^load_definitions\s*=\s*/etc/rabbitmq/definitions\.json$", conf, re.M)
    definitions = json.loads(mounts["/etc/rabbitmq/definitions.json"].read_text(encoding="utf-8"))
    assert {v["name"] for v in definitions["vhosts"]} == {"unifiedfeed"}
    assert [u["name"] for u in definitions["users"]] == ["odds"]
    assert [(x["name"], x["vhost"], x["type"], x["durable"]) for x in definitions["exchanges"]] == [
        ("unifiedfeed", "unifiedfeed", "topic", True)]
    assert rabbitmq["healthcheck"]["test"]


def _rabbitmq_definitions() -> dict[str, Any]:
    rabbitmq = compose()["services"]["rabbitmq"]
    mounts = {v["target"]: Path(v["source"]) for v in rabbitmq["volumes"] if v["type"] == "bind"}
    definitions: dict[str, Any] = json.loads(
        mounts["/etc/rabbitmq/definitions.json"].read_text(encoding="utf-8"))
    return definitions


def test_compose_runs_the_ingestors() -> None:
    services = compose()["services"]
    port = app_default("INGEST_WEB_PORT")
    published = [p["published"] for svc in services.values() for p in svc.get("ports", [])]
    assert len(published) == len(set(published)), f"host ports collide: {published}"
    for name, provider in (("ingest-uof", "uof"), ("ingest-betfair", "betfair")):
        svc = services[name]
        env = svc["environment"]
        assert svc["command"] == ["ingest", provider]
        assert "entrypoint" not in svc or svc["entrypoint"] is None
        # The health server binds WEB_HOST: every interface, so the published port reaches it.
        assert env["WEB_HOST"] == ALL_INTERFACES
        assert int(env["INGEST_WEB_PORT"]) == port
        assert [(p["host_ip"], p["target"]) for p in svc["ports"]] == [("127.0.0.1", port)]
        # The image's HEALTHCHECK asks the worker's WEB_PORT: the ingestors ask their own.
        check = " ".join(svc["healthcheck"]["test"])
        assert "INGEST_WEB_PORT" in check and "/health" in check
        assert svc["depends_on"]["init"]["condition"] == "service_completed_successfully"
        assert svc["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert Settings.from_env(env).ingest_web_port == port

    uof = services["ingest-uof"]
    assert "profiles" not in uof, "the UOF ingestor reads the local rabbitmq: on by default"
    assert uof["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    config = UofFeedConfig.from_env(uof["environment"], "")
    definitions = _rabbitmq_definitions()
    assert (config.host, config.port, config.tls) == ("rabbitmq", 5672, False)
    assert config.vhost in {v["name"] for v in definitions["vhosts"]}
    assert config.exchange in {x["name"] for x in definitions["exchanges"]}
    (user,) = [u for u in definitions["users"] if u["name"] == config.username]
    # rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password)), 4-byte salt.
    stored = base64.b64decode(user["password_hash"])
    assert stored[4:] == hashlib.sha256(stored[:4] + config.password.encode()).digest()

    betfair = services["ingest-betfair"]
    env = betfair["environment"]
    assert betfair["profiles"] == ["betfair"], "it needs real credentials: off by default"
    assert not {"BETFAIR_APP_KEY", "BETFAIR_SESSION_TOKEN"} & set(env), \
        "credentials come as secrets (files), never in the container's environment"
    targets = {s["source"]: s["target"] for s in betfair["secrets"]}
    secrets = compose()["secrets"]
    for name in ("BETFAIR_APP_KEY", "BETFAIR_SESSION_TOKEN"):
        source = name.lower()
        assert env[f"{name}_FILE"] == targets[source]
        assert secrets[source]["environment"] == name
    # (the secret files exist only in the container)
    config_b = BetfairStreamConfig.from_env({k: v for k, v in env.items()
                                             if not k.endswith("_FILE")})
    assert (config_b.host, config_b.port) == ("stream-api.betfair.com", 443)
    assert config_b.market_filter
