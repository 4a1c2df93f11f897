"""deploy/ gives each service what it needs: every service starts, with keys required, on
exactly the settings compose and Kubernetes hand it, and key values generated the way
deploy/secrets.env.example says; the manifests render and validate; the Ingress publishes
intake's public paths and nothing of the staff API.

No Docker here: what is checked is the configuration, not a running deployment.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # no stubs in the lock
from fastapi import FastAPI

from services.escalation.config import EscalationSettings
from services.escalation.main import create_app as create_escalation
from services.escalation.signing import load_signing_key
from services.intake.config import IntakeSettings
from services.intake.main import DEFINITION as INTAKE
from services.intake.main import create_app as create_intake
from services.reporting.config import ReportingSettings
from services.reporting.main import create_app as create_reporting
from services.triage.config import TriageSettings
from services.triage.main import create_app as create_triage
from shared.crypto import CryptoError, RecipientKeyPair, RecipientPublicKey
from shared.settings import BaseServiceSettings
from shared.testing.asgi import serve
from shared.testing.nats_server import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"

SERVICES: dict[str, tuple[type[BaseServiceSettings], Callable[..., FastAPI]]] = {
    "intake": (IntakeSettings, create_intake),
    "triage": (TriageSettings, create_triage),
    "escalation": (EscalationSettings, create_escalation),
    "reporting": (ReportingSettings, create_reporting),
}
# Variables a test must not inherit from the shell that runs it.
_OWNED_ENV = re.compile(r"^(INTAKE|TRIAGE|ESCALATION|REPORTING|SANAD|NATS|OTEL)_|^NATS_URL$")
# Kubernetes Secret keys whose compose variable (secrets.env) has another name.
_SECRET_ALIASES = {
    "TRIAGE_CONTENT_PUBLIC_KEY": "INTAKE_TRIAGE_CONTENT_PUBLIC_KEY",
    "INTAKE_CONTENT_PUBLIC_KEY": "ESCALATION_INTAKE_CONTENT_PUBLIC_KEY",
}


def _yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


# --- values generated as secrets.env.example says ---------------------------------------


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    """Run every generation command of secrets.env.example; its `NAME=value` lines."""
    text = (DEPLOY / "secrets.env.example").read_text(encoding="utf-8")
    commands = re.findall(r"^#\s+python3 -c \"(.+)\"$", text, flags=re.MULTILINE)
    values: dict[str, str] = {}
    bare: list[str] = []
    for code in commands:
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
        for line in out.splitlines():
            name, sep, value = line.partition("=")
            if sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
                values[name] = value
            elif not line.startswith("#"):
                bare.append(line)
    # Kind (c), the one command that prints a bare value, is the master key's.
    values["SANAD_MASTER_KEY"] = next(v for v in bare if len(v) == 44 and v.endswith("="))
    values["_password"] = next(v for v in bare if re.fullmatch(r"s[0-9a-f]{48}", v))
    return values


def test_the_generated_key_pairs_match(generated: Mapping[str, str]) -> None:
    for private, public in [
        ("TRIAGE_CONTENT_PRIVATE_KEY", "INTAKE_TRIAGE_CONTENT_PUBLIC_KEY"),
        ("INTAKE_CONTENT_PRIVATE_KEY", "ESCALATION_INTAKE_CONTENT_PUBLIC_KEY"),
    ]:
        pair = RecipientKeyPair.from_private_base64(generated[private])
        assert pair.public_key.raw == RecipientPublicKey.from_base64(generated[public]).raw

    settings = EscalationSettings(signing_key=generated["ESCALATION_SIGNING_KEY"])
    assert load_signing_key(settings).kid


def test_every_required_variable_of_compose_has_a_line_in_the_example() -> None:
    lines = (DEPLOY / "compose.yaml").read_text(encoding="utf-8").splitlines()
    compose = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    example = (DEPLOY / "secrets.env.example").read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", compose))
    listed = set(re.findall(r"^([A-Z0-9_]+)=$", example, flags=re.MULTILINE))
    assert required == listed


# --- the environment each form gives a service ----------------------------------------


def _compose_env(service: str, generated: Mapping[str, str]) -> dict[str, str]:
    spec = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    environment: dict[str, str | None] = spec["services"][service]["environment"]

    def interpolate(value: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("POSTGRES_") or name.startswith("NATS_"):
                return generated["_password"]
            if name not in generated:
                # A setting, not a key: a value the operator types in.
                return {"ESCALATION_HELPLINE_ID": "example-helpline"}.get(name, "x@example.org")
            return generated[name]

        return re.sub(r"\$\{([A-Z0-9_]+)(?::?[?-][^}]*)?\}", one, value)

    # No value: passed through from secrets.env when set there, else unset; the
    # example leaves every one of them commented out.
    return {k: interpolate(str(v)) for k, v in environment.items() if v is not None}


def _k8s_env(service: str, generated: Mapping[str, str]) -> dict[str, str]:
    config = next(d for d in _yaml_docs(K8S / "configmap.yaml") if d["kind"] == "ConfigMap")
    deployment = next(d for d in _yaml_docs(K8S / f"{service}.yaml") if d["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [{"configMapRef": {"name": "sanad-config"}}]
    env = {str(k): str(v) for k, v in config["data"].items()}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        if ref.get("optional"):
            continue  # a channel secret: the service starts without it
        key = _SECRET_ALIASES.get(ref["key"], ref["key"])
        env[item["name"]] = generated.get(key, generated["_password"])
    return env


def _isolate(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    for name in list(os.environ):
        if _OWNED_ENV.search(name):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def _locally(
    service: str, env: Mapping[str, str], tmp_path: Path, *, smtp_port: int
) -> dict[str, str]:
    """`env` with what only a cluster has (PostgreSQL, NATS, the collector) made local."""
    prefix = service.upper()
    local = {k: v for k, v in env.items() if k != "OTEL_EXPORTER_OTLP_ENDPOINT"}
    local |= {
        "SANAD_VAR_DIR": str(tmp_path / "var"),
        f"{prefix}_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'service.db'}",
        "SANAD_AUTH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}",
        f"{prefix}_BUS_ENABLED": "false",
    }
    if service == "intake":
        # The deployed SMTP server, on loopback and a free port instead of 0.0.0.0:2525.
        assert env["INTAKE_SMTP_PORT"] == "2525"
        local |= {"INTAKE_SMTP_HOST": "127.0.0.1", "INTAKE_SMTP_PORT": str(smtp_port)}
    if service == "escalation" and not env.get("ESCALATION_HELPLINE_ID"):
        local["ESCALATION_HELPLINE_ID"] = "example-helpline"
    return local


FORMS: dict[str, Callable[[str, Mapping[str, str]], dict[str, str]]] = {
    "compose": _compose_env,
    "k8s": _k8s_env,
}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_each_service_starts_on_its_deployed_settings_with_keys_required(
    service: str,
    form: str,
    generated: Mapping[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = FORMS[form](service, generated)
    assert env["SANAD_REQUIRE_KEYS"] == "true"
    _isolate(monkeypatch, _locally(service, env, tmp_path, smtp_port=free_port()))
    settings_cls, create_app = SERVICES[service]

    async with serve(create_app(settings_cls())) as client:
        response = await client.get("/readyz")

    assert response.status_code == 200
    # Every key came from the environment: none was generated as a development fallback.
    keys_dir = tmp_path / "var" / "keys"
    assert not keys_dir.exists() or not any(keys_dir.iterdir())


def _key_variables(env: Mapping[str, str], generated: Mapping[str, str]) -> list[str]:
    keys = {v for k, v in generated.items() if k != "_password"}
    return sorted(k for k, v in env.items() if v in keys)


@pytest.mark.parametrize(
    ("service", "missing"),
    [
        ("intake", "SANAD_MASTER_KEY"),
        ("intake", "INTAKE_TRIAGE_CONTENT_PUBLIC_KEY"),
        ("intake", "INTAKE_CONTENT_PRIVATE_KEY"),
        ("triage", "SANAD_MASTER_KEY"),
        ("triage", "TRIAGE_CONTENT_PRIVATE_KEY"),
        ("escalation", "SANAD_MASTER_KEY"),
        ("escalation", "ESCALATION_SIGNING_KEY"),
        ("escalation", "ESCALATION_INTAKE_CONTENT_PUBLIC_KEY"),
    ],
)
async def test_without_one_of_its_keys_a_service_refuses_to_start(
    service: str,
    missing: str,
    generated: Mapping[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _k8s_env(service, generated)
    # Both forms give the service this key (so the start above relied on it).
    assert missing in _key_variables(env, generated)
    assert missing in _key_variables(_compose_env(service, generated), generated)
    del env[missing]
    _isolate(monkeypatch, _locally(service, env, tmp_path, smtp_port=free_port()))
    settings_cls, create_app = SERVICES[service]

    with pytest.raises(CryptoError, match="required"):
        async with serve(create_app(settings_cls())):
            pass


def test_kubernetes_leaves_the_helpline_id_to_set_and_escalation_refuses_it_empty() -> None:
    config = next(d for d in _yaml_docs(K8S / "configmap.yaml") if d["kind"] == "ConfigMap")
    assert config["data"]["ESCALATION_HELPLINE_ID"] == ""
    with pytest.raises(ValueError, match="helpline_id"):
        EscalationSettings(helpline_id=config["data"]["ESCALATION_HELPLINE_ID"])


# --- the manifests ------------------------------------------------------------------------


def test_every_yaml_file_parses() -> None:
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert len(files) >= 12
    for path in files:
        assert _yaml_docs(path), path


def test_every_secret_a_pod_needs_is_in_the_example() -> None:
    example = {
        d["metadata"]["name"]: set(d["stringData"])
        for d in _yaml_docs(K8S / "secrets.example.yaml")
    }
    for service in SERVICES:
        deployment = next(
            d for d in _yaml_docs(K8S / f"{service}.yaml") if d["kind"] == "Deployment"
        )
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in example[ref["name"]], (service, ref)


def test_intakes_smtp_port_is_open_from_the_mta_only() -> None:
    config = next(d for d in _yaml_docs(K8S / "configmap.yaml") if d["kind"] == "ConfigMap")
    port = int(config["data"]["INTAKE_SMTP_PORT"])
    docs = _yaml_docs(K8S / "intake.yaml")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    service = next(d for d in docs if d["kind"] == "Service")
    assert {"name": "smtp", "containerPort": port} in container["ports"]
    assert {"name": "smtp", "port": port, "targetPort": "smtp"} in service["spec"]["ports"]

    policies = [d for d in _yaml_docs(K8S / "networkpolicies.yaml") if d["kind"] == "NetworkPolicy"]
    opening = [
        rule
        for p in policies
        if p["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/name": "intake"}
        for rule in p["spec"].get("ingress", [])
        if any(x.get("port") == port for x in rule.get("ports", []))
    ]
    assert opening == [
        {
            "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mta"}}}],
            "ports": [{"protocol": "TCP", "port": port}],
        }
    ]


def _routes(name: str) -> list[tuple[str, str]]:
    ingress = next(
        d
        for d in _yaml_docs(K8S / "ingress.yaml")
        if d["kind"] == "Ingress" and d["metadata"]["name"] == name
    )
    return [
        (p["pathType"], p["path"])
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    ]


def _published(routes: list[tuple[str, str]], path: str) -> bool:
    for kind, route in routes:
        if kind == "Exact" and path == route:
            return True
        if kind == "Prefix" and (path == route or path.startswith(route.rstrip("/") + "/")):
            return True
    return False


def test_the_ingress_publishes_intakes_public_paths_and_no_staff_route() -> None:
    routes = _routes("intake")
    # The signal-cli bridge posts from inside the cluster, never through the ingress.
    inside = {"/v1/channels/signal/webhook"}
    for _, path in INTAKE.public_paths:
        assert _published(routes, path) != (path in inside), path
    assert _published(routes, "/")
    for staff in ("/v1/tickets/0b3c", "/v1/requesters/0b3c", "/metrics", "/docs"):
        assert not _published(routes, staff), staff


def test_the_partners_ingress_reaches_the_referral_routes_only() -> None:
    routes = _routes("escalation-partners")
    for path in ("/v1/referrals", "/v1/referrals/0b3c/status", "/v1/referrals/signing-key"):
        assert _published(routes, path)
    for path in ("/v1/partners", "/v1/escalations", "/v1/platforms", "/metrics"):
        assert not _published(routes, path)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    out = tmp_path_factory.mktemp("k8s") / "rendered.yaml"
    result = subprocess.run(
        [kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(K8S)],
        check=True,
        capture_output=True,
        text=True,
    )
    out.write_text(result.stdout, encoding="utf-8")
    return out


def test_kustomize_renders_every_object_in_the_namespace(rendered: Path) -> None:
    docs = _yaml_docs(rendered)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {
        ("Ingress", "intake"),
        ("Ingress", "escalation-partners"),
        ("NetworkPolicy", "intake-egress-channels"),
        ("NetworkPolicy", "escalation-egress-partners"),
        ("NetworkPolicy", "escalation-from-ingress"),
        ("NetworkPolicy", "intake-smtp-from-mta"),
    } <= kinds
    assert not any(d["kind"] == "Secret" for d in docs)
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"sanad"}


def _kubernetes_validate() -> list[str] | None:
    if importlib.util.find_spec("kubernetes_validate") is not None:
        return [sys.executable, "-m", "kubernetes_validate"]
    found = shutil.which("kubernetes-validate")
    return [found] if found else None


def test_the_rendered_objects_and_the_secret_templates_validate(rendered: Path) -> None:
    command = _kubernetes_validate()
    if command is None:
        pytest.skip("kubernetes-validate is not installed")
    for path in (rendered, K8S / "secrets.example.yaml"):
        for version in ("1.30.0", "1.37.0"):
            result = subprocess.run(
                [*command, "--strict", "-k", version, str(path)], capture_output=True, text=True
            )
            assert result.returncode == 0, result.stdout + result.stderr


def test_the_nats_node_configuration_is_valid(tmp_path: Path) -> None:
    server = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    if server is None:
        pytest.skip("nats-server is not installed")
    password = "s" + os.urandom(24).hex()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "JS_KEY": "k" + os.urandom(32).hex(),
        "NATS_SERVER_NAME": "nats-0",
        "NATS_CLUSTER_PASSWORD": password,
        **{f"NATS_ROUTE_{n}": f"nats://route:{password}@nats-{n}.nats:6222" for n in range(3)},
        **{
            f"NATS_{user}_PASSWORD": "s" + os.urandom(24).hex()
            for user in ("INTAKE", "TRIAGE", "ESCALATION", "REPORTING", "OPS", "SYS")
        },
    }
    conf = DEPLOY / "nats" / "nats-cluster.conf"
    ok = subprocess.run([server, "-c", str(conf), "-t"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    del env["NATS_SYS_PASSWORD"]
    missing = subprocess.run([server, "-c", str(conf), "-t"], env=env, capture_output=True)
    assert missing.returncode != 0
