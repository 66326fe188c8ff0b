"""Starts and stops the whole stack on one machine, without Docker.

Used by ``make run`` / ``make up`` / ``make down`` and by the end-to-end tests, so the tests
start the stack exactly the way a user does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from shared.settings import DEFAULT_AMQP_URL

SERVICES = (
    "user_service",
    "expense_service",
    "budget_service",
    "analytics_service",
    "notification_service",
)
DEFAULT_PORTS = {"gateway": 8000} | {name: 8001 + i for i, name in enumerate(SERVICES)}


class StackError(Exception):
    """Something the user must fix; the message says what, in one line."""


@dataclass
class Stack:
    data_dir: Path = Path(".data")
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    mongo_port: int = 27017
    gateway_host: str = "127.0.0.1"
    mongodb_url: str | None = None  # a real MongoDB; None starts SecantusDB
    # How long SecantusDB lets a transaction idle before aborting it (the tests shorten it).
    transaction_lifetime_seconds: float = 60.0
    # Whether SecantusDB flushes its log to disk at every commit (see docs/operations.md).
    mongo_sync_on_commit: bool = False
    amqp_url: str = DEFAULT_AMQP_URL
    env: dict[str, str] = field(default_factory=dict)  # extra settings for every service
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        host = "127.0.0.1" if self.gateway_host in {"0.0.0.0", ""} else self.gateway_host
        return f"http://{host}:{self.ports['gateway']}"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    # -- dependencies -------------------------------------------------------------------------

    def start_mongo(self) -> str:
        if self.mongodb_url:
            return self.mongodb_url
        # The virtual environment's own, at the pinned version, with our fixes (secantusd.py).
        if importlib.util.find_spec("secantus") is None:
            raise StackError("SecantusDB not found: run 'make install' (it comes from PyPI)")
        storage = self.data_dir / "mongo"
        storage.mkdir(parents=True, exist_ok=True)
        self._spawn(
            "mongo",
            [
                sys.executable,
                str(Path(__file__).with_name("secantusd.py")),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.mongo_port),
                "--storage-path",
                str(storage),
                "--log-level",
                "WARNING",
                "--transaction-lifetime-seconds",
                str(self.transaction_lifetime_seconds),
                *(["--sync-on-commit"] if self.mongo_sync_on_commit else []),
            ],
            {},
        )
        url = f"mongodb://127.0.0.1:{self.mongo_port}/?directConnection=true"
        self._wait_for(lambda: port_open("127.0.0.1", self.mongo_port), "SecantusDB", 30)
        return url

    def ensure_rabbitmq(self) -> None:
        parts = urlsplit(self.amqp_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 5672
        if port_open(host, port):
            return
        local = host in {"127.0.0.1", "localhost", "::1"}
        server = shutil.which("rabbitmq-server")
        if not local or server is None:
            raise StackError(
                f"RabbitMQ is not reachable at {host}:{port}. Install it "
                "('sudo apt-get install rabbitmq-server'), set AMQP_URL to a running broker, "
                "or use 'docker compose up'."
            )
        print(f"starting RabbitMQ ({server} -detached)", flush=True)
        subprocess.run([server, "-detached"], check=False, capture_output=True)
        self._wait_for(lambda: port_open(host, port), "RabbitMQ", 90)

    # -- services -----------------------------------------------------------------------------

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.mongodb_url = self.start_mongo()
        self.ensure_rabbitmq()
        for name in (*SERVICES, "gateway"):
            self.start_service(name)

    def start_replica(self, name: str, suffix: str = "2", env: dict[str, str] | None = None) -> str:
        """Another process of a service, on a free port, consuming the same queue; ``env``
        adds settings of its own (a bench compares two gateways this way)."""
        replica = f"{name}-{suffix}"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.ports[replica] = sock.getsockname()[1]
        self.start_service(name, as_name=replica, env=env)
        return replica

    def start_service(
        self, name: str, as_name: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        settings = {
            "MONGODB_URL": self.mongodb_url or "",
            "AMQP_URL": self.amqp_url,
            "JWKS_URL": f"{self.service_url('user_service')}/.well-known/jwks.json",
            **self.env,
        }
        if name == "user_service":
            settings["DATA_DIR"] = str(self.data_dir / name)
            settings["PUBLIC_URL"] = self.gateway_url  # where reset links point
        if name == "expense_service":
            settings["BUDGET_SERVICE_URL"] = self.service_url("budget_service")
        if name in ("budget_service", "user_service"):
            settings["EXPENSE_SERVICE_URL"] = self.service_url("expense_service")
        if name == "gateway":
            settings["UPSTREAMS"] = json.dumps({s: [self.service_url(s)] for s in SERVICES})
        command = [
            sys.executable,
            "-m",
            "shared.server",
            name,
            "--host",
            self.gateway_host if name == "gateway" else "127.0.0.1",
            "--port",
            str(self.ports[as_name or name]),
        ]
        own = self.service_env.get(name, {}) | (env or {})
        self._spawn(as_name or name, command, settings | own)

    def restart_service(self, name: str, env: dict[str, str] | None = None) -> None:
        """Kills one service hard (as a crash would) and starts it again, for tests."""
        self.kill(name)
        if env is not None:
            self.service_env[name] = env
        self.start_service(name)

    def kill(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            command,
            env=os.environ | {"PYTHONUNBUFFERED": "1"} | env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Own session: a terminal's Ctrl-C reaches only us, and we stop children in order.
            start_new_session=True,
        )

    # -- readiness ----------------------------------------------------------------------------

    def readiness(self) -> dict[str, bool]:
        """The gateway's view of every dependency and service (empty while it is down, or while
        another process answers on its port: only the gateway's checks name every service)."""
        try:
            response = httpx.get(f"{self.gateway_url}/ready", timeout=3)
            checks = response.json()["checks"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return {}
        if not isinstance(checks, dict) or not set(SERVICES) <= checks.keys():
            return {}
        return checks

    def wait_until_ready(
        self, timeout: float = 120, progress: Callable[[dict[str, bool]], None] | None = None
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            checks = self.readiness()
            if progress:
                progress(checks)
            if checks and all(checks.values()):
                return
            time.sleep(0.3)
        raise StackError(f"the stack was not ready after {timeout:.0f}s; logs in {self.log_dir}")

    def wait_service_ready(self, name: str, timeout: float = 30) -> None:
        """Until one process (``name``, or a replica's name) answers 200 on /ready."""
        url = f"http://127.0.0.1:{self.ports[name]}/ready"

        def ready() -> bool:
            try:
                return httpx.get(url, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        self._wait_for(ready, name, timeout)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise StackError(
                    f"{name} exited with code {process.returncode}; "
                    f"see {self.log_dir / (name + '.log')}"
                )

    def stop(self) -> None:
        """Gateway first, then services, then the database: each gets SIGTERM, then SIGKILL."""
        services = [n for n in self.processes if n not in {"gateway", "mongo"}]
        for group in (["gateway"], services, ["mongo"]):
            running = [self.processes[n] for n in group if n in self.processes]
            for process in running:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in running:
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        self.processes.clear()

    def _wait_for(self, check: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if check():
                return
            time.sleep(0.2)
        raise StackError(f"{what} did not start within {timeout:.0f}s; logs in {self.log_dir}")


def wait_for(check: Callable[[], bool], what: str, timeout: float, interval: float = 0.2) -> None:
    """Until ``check()`` is true; StackError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise StackError(f"{what} did not happen within {timeout:.0f}s")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
