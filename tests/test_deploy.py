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


def compose_config(*args: str, password: str | None) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` (Debian's docker-compose parses without a Docker engine)."""
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    env = {k: v for k, v in os.environ.items() if k != "RABBITMQ_PASSWORD"}
    if password is not None:
        env["RABBITMQ_PASSWORD"] = password
    return subprocess.run(
        ["docker-compose", "config", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    quiet = compose_config("-q", password="not-the-default")
    assert quiet.returncode == 0, quiet.stderr
    rendered = compose_config(password="not-the-default")
    config: dict[str, Any] = yaml.safe_load(rendered.stdout)
    return config


def test_compose_refuses_to_run_without_a_broker_password() -> None:
    result = compose_config("-q", password=None)
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
