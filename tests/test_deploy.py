"""docker-compose.yml and the Dockerfile, checked without a Docker engine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import ROOT

SERVICES = {
    "gateway",
    "user_service",
    "expense_service",
    "budget_service",
    "analytics_service",
    "notification_service",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    env = os.environ | {"RABBITMQ_PASSWORD": "not-the-default"}
    quiet = subprocess.run(
        ["docker-compose", "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert quiet.returncode == 0, quiet.stderr
    rendered = subprocess.run(
        ["docker-compose", "config"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    config: dict[str, Any] = yaml.safe_load(rendered.stdout)
    return config


def test_compose_refuses_to_run_without_a_broker_password() -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed")
    env = {k: v for k, v in os.environ.items() if k != "RABBITMQ_PASSWORD"}
    result = subprocess.run(
        ["docker-compose", "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "RABBITMQ_PASSWORD" in result.stderr


def test_only_the_gateway_and_management_ui_are_published(compose: dict[str, Any]) -> None:
    published = {name for name, svc in compose["services"].items() if svc.get("ports")}
    assert published == {"gateway", "rabbitmq"}
    [management] = compose["services"]["rabbitmq"]["ports"]
    assert str(management).startswith("127.0.0.1:") or management.get("host_ip") == "127.0.0.1"


def test_every_service_waits_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= SERVICES
    for name in SERVICES:
        depends = services[name]["depends_on"]
        assert depends["mongo"]["condition"] == "service_healthy", name
        assert depends["rabbitmq"]["condition"] == "service_healthy", name
        assert services[name]["environment"]["SERVICE"] == name
        assert services[name]["environment"]["ENVIRONMENT"] == "production"
        assert "healthcheck" in services[name]
    for upstream in SERVICES - {"gateway"}:
        assert services["gateway"]["depends_on"][upstream]["condition"] == "service_healthy"
    assert "--replSet" in services["mongo"]["command"]
    assert "healthcheck" in services["mongo"]
    assert "healthcheck" in services["rabbitmq"]
    assert "management" in services["rabbitmq"]["image"]


def test_compose_settings_are_accepted_by_the_services(compose: dict[str, Any]) -> None:
    """Each container's environment, loaded by its own Settings class, outside development."""
    for name in SERVICES:
        env = {k: str(v) for k, v in compose["services"][name]["environment"].items()}
        code = f"from {name}.settings import Settings; Settings()"
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={"PATH": os.environ["PATH"], **env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{name}: {result.stderr[-500:]}"


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
