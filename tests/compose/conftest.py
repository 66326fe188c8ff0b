"""The compose stack for real: docker-compose.yml built, started and driven through the gateway.

Needs a Docker engine; without one test_compose.py is skipped as a whole, in one line. Where no
registry is reachable, deploy/offline-images.sh builds the stand-in base images first and
deploy/docker-compose.offline.yml is added. The project name is the test's own, only the
gateway (and RabbitMQ's management UI, on 127.0.0.1) is published, on free ports, and
``down -v`` removes everything at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, STAND_IN_LABEL, free_ports

PROJECT = "et-compose-test"
SERVICES = (
    "user_service",
    "expense_service",
    "budget_service",
    "analytics_service",
    "notification_service",
    "gateway",
)
OFFLINE_OVERRIDE = ROOT / "deploy" / "docker-compose.offline.yml"
TEST_OVERRIDE = Path(__file__).with_name("docker-compose.test.yml")


NO_ENGINE = (
    "compose test: no Docker engine answers `docker info` "
    "(apt-get install docker.io docker-compose, then start dockerd)"
)


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def compose_command() -> list[str]:
    """Debian's docker-compose (1.29), or the `docker compose` plugin."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    pytest.fail(
        "a Docker engine answers but docker compose is missing (apt-get install docker-compose)"
    )


def is_stand_in(image: str) -> bool:
    inspect = ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", image]
    result = subprocess.run(inspect, capture_output=True, text=True, check=False)
    return result.returncode == 0 and STAND_IN_LABEL in (json.loads(result.stdout) or {})


@dataclass
class Compose:
    """One compose project: the docker-compose command with its files and environment."""

    command: list[str]
    files: list[Path]
    env: dict[str, str]
    gateway_port: int
    log: list[str] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def __call__(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 600,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        command = [*self.command, "-p", PROJECT]
        for file in self.files:
            command += ["-f", str(file)]
        command += args
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=os.environ | self.env | (env or {}),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        self.log.append(f"$ {' '.join(args)} -> {result.returncode}")
        if check and result.returncode != 0:
            pytest.fail(
                f"docker-compose {' '.join(args)}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
        return result

    def containers(self, service: str | None = None, *, every: bool = False) -> list[str]:
        """Ids of the project's containers (of one service), running ones unless ``every``."""
        command = ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"]
        if service:
            command += ["--filter", f"label=com.docker.compose.service={service}"]
        if every:
            command.append("-a")
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        return result.stdout.split()

    def inspect(self, container: str) -> dict[str, object]:
        result = subprocess.run(
            ["docker", "inspect", container], capture_output=True, text=True, check=True
        )
        [details] = json.loads(result.stdout)
        assert isinstance(details, dict)
        return details

    def states(self) -> dict[str, str]:
        """Each container's name and its state: its health where it has a check."""
        states = {}
        for container in self.containers(every=True):
            state = self.inspect(container)["State"]
            assert isinstance(state, dict)
            health = state.get("Health")
            name = self.inspect(container)["Name"]
            states[str(name).lstrip("/")] = (
                str(health["Status"]) if isinstance(health, dict) else str(state["Status"])
            )
        return states

    def wait_healthy(self, expected: int, timeout: float = 180) -> None:
        """Until ``expected`` containers run, each healthy, and the gateway says ready."""
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = self.states()
            healthy = len(states) == expected and all(s == "healthy" for s in states.values())
            if healthy and self.ready():
                return
            if any(s in {"exited", "dead"} for s in states.values()):
                break
            time.sleep(0.5)
        logs = self("logs", "--no-color", "--tail", "30", check=False).stdout
        pytest.fail(f"not all {expected} containers healthy: {states}\n{logs[-6000:]}")

    def ready(self) -> bool:
        try:
            response = httpx.get(f"{self.gateway_url}/ready", timeout=3)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


@pytest.fixture(scope="session")
def compose() -> Iterator[Compose]:
    command = compose_command()
    started = time.monotonic()
    images = subprocess.run(
        [str(ROOT / "deploy" / "offline-images.sh")], capture_output=True, text=True, check=False
    )
    if images.returncode != 0:
        pytest.fail(f"deploy/offline-images.sh failed:\n{images.stderr[-3000:]}")
    files = [ROOT / "docker-compose.yml"]
    if any(is_stand_in(image) for image in ("mongo:8.0", "python:3.11-slim-bookworm")):
        files.append(OFFLINE_OVERRIDE)
    files.append(TEST_OVERRIDE)
    gateway_port, management_port = free_ports(2)
    stack = Compose(
        command=command,
        files=files,
        env={
            "RABBITMQ_PASSWORD": secrets.token_urlsafe(16),
            "GATEWAY_PORT": str(gateway_port),
            "RABBITMQ_MANAGEMENT_PORT": str(management_port),
        },
        gateway_port=0,
    )
    stack.gateway_port = int(stack.env["GATEWAY_PORT"])
    stack("down", "-v", "--remove-orphans", check=False)  # what an interrupted run left
    try:
        # One image serves all six services: built once, for one of them.
        stack("build", "gateway", timeout=1200)
        built = time.monotonic()
        stack("up", "-d")
        stack.wait_healthy(expected=len(SERVICES) + 2)
        print(
            f"\ncompose: images and build {built - started:.0f}s, "
            f"up until healthy {time.monotonic() - built:.0f}s"
        )
        yield stack
    finally:
        stack("down", "-v", "--remove-orphans", "--timeout", "20", check=False)
        left = stack.containers(every=True)
        volumes = subprocess.run(
            [
                "docker",
                "volume",
                "ls",
                "-q",
                "--filter",
                f"label=com.docker.compose.project={PROJECT}",
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        assert not left, f"containers left behind: {left}"
        assert not volumes, f"volumes left behind: {volumes}"
