"""The operator's files checked without a Docker engine or a cluster: the Kubernetes manifests
against the Kubernetes API's own schemas (kubernetes-validate ships them; no network), and the
offline image script against what docker-compose.yml and the Dockerfile name."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support import ROOT

MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
SERVICES = {
    "gateway": 8000,
    "user_service": 8001,
    "expense_service": 8002,
    "budget_service": 8003,
    "analytics_service": 8004,
    "notification_service": 8005,
}
# The newest the package knows, and an older one still in wide use.
KUBERNETES_VERSIONS = ("1.37.0", "1.30.0")


def documents() -> list[dict[str, Any]]:
    docs = []
    for path in MANIFESTS:
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def named(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents() if doc["kind"] == kind}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_manifest_is_valid_kubernetes(path: Path, version: str) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_refuses_a_broken_manifest() -> None:
    deployment = named("Deployment")["gateway"]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["prots"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_manifests_have_the_compose_topology() -> None:
    deployments, services = named("Deployment"), named("Service")
    assert set(named("StatefulSet")) == {"mongo", "rabbitmq"}
    assert set(deployments) == {name.replace("_", "-") for name in SERVICES}
    config = named("ConfigMap")["expense-tracker"]["data"]
    upstreams = yaml.safe_load(config["UPSTREAMS"])
    for name, port in SERVICES.items():
        dns = name.replace("_", "-")
        [container] = deployments[dns]["spec"]["template"]["spec"]["containers"]
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert (env["SERVICE"], env["PORT"]) == (name, str(port))
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert services[dns]["spec"]["ports"][0]["port"] == port
        if name != "gateway":
            assert upstreams[name] == [f"http://{dns}:{port}"]
    # Only the gateway is reachable from outside, through the TLS ingress.
    ingress = named("Ingress")["expense-tracker"]
    [rule] = ingress["spec"]["rules"]
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "gateway"
    assert ingress["spec"]["tls"]
    assert all(svc["spec"].get("type", "ClusterIP") == "ClusterIP" for svc in services.values())


def test_offline_images_are_the_ones_compose_and_the_dockerfile_name() -> None:
    script = (ROOT / "deploy" / "offline-images.sh").read_text()
    built = set(re.findall(r"^(?:PYTHON|NODE|RABBITMQ|MONGO)=(\S+)$", script, re.MULTILINE))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    named_by_compose = {
        svc["image"] for name, svc in compose["services"].items() if name not in SERVICES
    }
    dockerfile = (ROOT / "Dockerfile").read_text()
    named_by_dockerfile = set(re.findall(r"^FROM (\S+:\S+)", dockerfile, re.MULTILINE))
    assert built == named_by_compose | named_by_dockerfile


def test_shell_scripts_pass_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    scripts = [
        ROOT / "deploy" / "offline-images.sh",
        ROOT / "deploy" / "offline" / "rabbitmq-entrypoint.sh",
        ROOT / ".ci" / "run",
    ]
    result = subprocess.run(
        ["shellcheck", *map(str, scripts)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout
