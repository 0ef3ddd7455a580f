"""The deployment files are checked, not only written (issue #11, point 8).

Offline and fast: every Kubernetes manifest in ``deploy/k8s/`` against the API schemas of
one Kubernetes release (``kubernetes-validate``, strict: an unknown field fails), and
``compose.yaml`` against the Compose Specification's JSON schema (vendored beside this file:
``compose-spec.md`` says where from). Then what matters to coop: the one-shot migration runs
before the API and the worker, the API runs several replicas under one issuer, logs are
JSON, the metrics token comes from the Secret, every ``COOP_*`` name is a real setting, and
no credential is written in the files but the documented development ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from coop.settings import PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "compose.yaml"
COMPOSE_SCHEMA = Path(__file__).with_name("compose-spec.json")
#: The Kubernetes release the manifests are validated against: the newest whose schemas
#: kubernetes-validate (>=1.37) ships. Raise it with the package.
KUBERNETES = "1.37.0"
#: compose.yaml's development credentials, named in its header comment; nothing else may be
#: written there.
DEV_CREDENTIALS = {"coop", "dev-only-metrics-token-change-me"}
#: An environment variable with one of these in its name carries a credential.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|JWKS$|_KEY$")
MANIFESTS = sorted(K8S.glob("*.yaml"))


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _all_documents() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in _documents(path)]


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [
        doc for doc in _all_documents() if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"expected one {kind} {name} in deploy/k8s, found {len(found)}"
    return found[0]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each variable the container gets: {"value": ...}, {"secret": (name, key)} or
    {"other": valueFrom} (a fieldRef, a configMapKeyRef...)."""
    env: dict[str, dict[str, Any]] = {}
    for source in container.get("envFrom", []):
        secret = source["secretRef"]["name"]
        for key in _secret(secret)["stringData"]:
            env[key] = {"secret": (secret, key)}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = {"value": item["value"]}
        elif "secretKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = {"secret": (ref["name"], ref["key"])}
        else:
            env[item["name"]] = {"other": item.get("valueFrom")}
    return env


def _secret(name: str) -> dict[str, Any]:
    return _one("Secret", name)


def _workloads() -> list[dict[str, Any]]:
    return [doc for doc in _all_documents() if doc["kind"] in {"Deployment", "Job"}]


# -- Kubernetes ----------------------------------------------------------------------------


def test_the_manifests_are_there() -> None:
    names = {path.name for path in MANIFESTS}
    assert {"api.yaml", "worker.yaml", "migrate-job.yaml", "secret.example.yaml"} <= names


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_kubernetes_manifest_is_valid(path: Path) -> None:
    documents = _documents(path)
    assert documents, f"{path.name} holds no resource"
    for doc in documents:
        # strict: additionalProperties false everywhere, so a misspelt field fails too
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_strict_validation_refuses_an_unknown_field() -> None:
    """The check can fail: a field Kubernetes does not know (here a typo) is refused."""
    worker = _one("Deployment", "coop-worker")
    _container(worker)["enviroment"] = [{"name": "COOP_LOG_LEVEL", "value": "INFO"}]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(worker, KUBERNETES, strict=True)


def test_migrate_job_runs_coop_migrate_once_before_the_rollout() -> None:
    job = _one("Job", "coop-migrate")
    assert _container(job)["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    text = (K8S / "migrate-job.yaml").read_text()
    # the documented order: wait for the Job, then roll out api and worker
    wait = text.index("kubectl wait --for=condition=complete job/coop-migrate")
    assert wait < text.index("kubectl apply -f api.yaml -f worker.yaml")
    assert set(_env(_container(job))) >= {"COOP_DATABASE_URL"}


def test_api_runs_several_replicas_under_one_issuer() -> None:
    api = _one("Deployment", "coop-api")
    assert api["spec"]["replicas"] >= 2
    assert _container(api)["args"][0] == "serve"
    env = _env(_container(api))
    # a literal in the pod template is the same on every replica (not a per-pod fieldRef)
    issuer = env["COOP_ISSUER"]["value"]
    assert urlsplit(issuer).scheme == "https" and urlsplit(issuer).netloc
    assert env["COOP_LOG_FORMAT"] == {"value": "json"}
    assert env["COOP_METRICS_TOKEN"] == {"secret": ("coop", "COOP_METRICS_TOKEN")}
    assert env["COOP_JWKS"] == {"secret": ("coop", "COOP_JWKS")}
    service = _one("Service", "coop-api")
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]


def test_worker_logs_json_and_reads_the_secret() -> None:
    worker = _one("Deployment", "coop-worker")
    assert _container(worker)["args"] == ["worker"]
    env = _env(_container(worker))
    assert env["COOP_LOG_FORMAT"] == {"value": "json"}
    for name in ("COOP_DATABASE_URL", "COOP_REDIS_URL", "COOP_METRICS_TOKEN"):
        assert env[name] == {"secret": ("coop", name)}


def test_workloads_share_one_image_and_run_as_the_images_user() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "USER 10001:10001" in dockerfile
    images = set()
    for workload in _workloads():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        container = _container(workload)
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        images.add(container["image"])
    assert len(images) == 1, images


def test_secrets_come_from_the_secret_and_it_holds_placeholders_only() -> None:
    secret = _secret("coop")["stringData"]
    for workload in _workloads():
        for name, source in _env(_container(workload)).items():
            if "secret" in source:
                secret_name, key = source["secret"]
                assert secret_name == "coop" and key in secret, (name, source)
            else:
                assert not SECRET_NAME.search(name), f"{name} is written in a manifest"
    for key, value in secret.items():
        if key.endswith("_URL"):
            password = urlsplit(value).password
            assert password in (None, "CHANGE-ME"), f"{key} holds a password"
        else:
            assert "CHANGE-ME" in value, f"{key} is not a placeholder"
    assert "COOP_METRICS_TOKEN" in secret


def test_every_coop_variable_is_a_setting() -> None:
    """A misspelt ``COOP_*`` name would be ignored silently by coop: refuse it here."""
    known = {PREFIX + field.upper() for field in Settings.__struct_fields__}
    used = set()
    for workload in _workloads():
        used |= set(_env(_container(workload)))
    for service in _compose()["services"].values():
        used |= set(service.get("environment", {}))
    used |= set(_secret("coop")["stringData"])
    coop_names = {name for name in used if name.startswith(PREFIX)}
    assert coop_names - known == set()


# -- compose -------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # resolves the x-coop anchors and merges


def _compose_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_compose_file_matches_the_compose_schema() -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _compose_validator().iter_errors(_compose())
    ]
    assert errors == []


def test_compose_schema_refuses_an_unknown_field() -> None:
    compose = _compose()
    compose["services"]["api"]["enviroment"] = {"COOP_LOG_LEVEL": "INFO"}
    assert list(_compose_validator().iter_errors(compose))


def test_compose_services_and_their_order() -> None:
    services = _compose()["services"]
    assert {"api", "worker", "migrate", "postgres", "redis"} <= set(services)
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker", "migrate"):
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert services[name]["image"] == services["api"]["image"]
        env = services[name]["environment"]
        assert env["COOP_LOG_FORMAT"] == "json"
        assert env["COOP_METRICS_TOKEN"] in DEV_CREDENTIALS


def test_compose_writes_no_credential_but_the_dev_ones() -> None:
    for name, service in _compose()["services"].items():
        for key, value in service.get("environment", {}).items():
            value = str(value)
            if key.endswith("_URL"):
                password = urlsplit(value).password
                assert password in (None, *DEV_CREDENTIALS), f"{name}: {key}"
            elif SECRET_NAME.search(key):
                assert value in DEV_CREDENTIALS, f"{name}: {key} holds an undocumented secret"
        assert "COOP_JWKS" not in service.get("environment", {}), "keys go in a volume"
    header = COMPOSE.read_text().split("\n\n", 1)[0]
    assert "development values" in header and "COOP_METRICS_TOKEN" in header
