"""``python -m devstack run`` (what ``make run`` calls), driven as a user would drive it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from devstack.stack import DEFAULT_PORTS, Stack, wait_for
from tests.conftest import USE_DOCKER
from tests.support import READINESS_CHECKS, ROOT, BrokerNames, delete_stack_broker_names, free_port

pytestmark = pytest.mark.skipif(
    USE_DOCKER, reason="the launcher's embedded path: SecantusDB and the local RabbitMQ"
)


def ports_in_use() -> set[int]:
    return set(DEFAULT_PORTS.values()) | {27017}


def launcher_env(data_dir: Path, names: BrokerNames, amqp_url: str) -> dict[str, str]:
    return os.environ | {
        "DATA_DIR": str(data_dir),
        "AMQP_URL": amqp_url,
        "EVENTS_EXCHANGE": names.exchange,
        "QUEUE_PREFIX": names.queue_prefix,
    }


@contextlib.contextmanager
def launcher_running(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m devstack run`` until it prints its ready line; Ctrl-C (SIGINT) on exit."""
    launcher = subprocess.Popen(
        [sys.executable, "-m", "devstack", "run"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: "ready." in log.read_text(), "the ready line", 120, interval=0.3)
        yield launcher
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.wait(60)


@pytest.mark.timeout(300)
def test_run_starts_from_empty_data_keeps_data_and_stops_cleanly(
    tmp_path: Path, amqp_url: str
) -> None:
    if any(_in_use(port) for port in ports_in_use()):
        pytest.skip("the launcher's default ports are taken (is `make run` running?)")
    data_dir = tmp_path / ".data"
    assert not data_dir.exists()
    names = BrokerNames.fresh()
    env = launcher_env(data_dir, names, amqp_url)
    gateway = f"http://127.0.0.1:{DEFAULT_PORTS['gateway']}"
    email, password = f"launcher-{free_port()}@example.com", "launcher password"

    first_log = tmp_path / "first.log"
    try:
        with launcher_running(env, first_log) as launcher:
            output = first_log.read_text()
            assert f"gateway  {gateway}" in output
            assert f"{gateway}/docs" in output
            ready = httpx.get(f"{gateway}/ready", timeout=5)
            assert ready.status_code == 200
            assert all(ready.json()["checks"].values())
            assert set(ready.json()["checks"]) == READINESS_CHECKS
            registered = httpx.post(
                f"{gateway}/api/auth/register",
                json={"email": email, "password": password},
                timeout=10,
            )
            assert registered.status_code == 201
        assert launcher.returncode == 0
        assert "stopped." in first_log.read_text()
        # Ctrl-C stopped every child: nothing listens on the stack's ports any more.
        assert not any(_in_use(port) for port in ports_in_use())

        # Data survives a restart of the whole stack, database included.
        with launcher_running(env, tmp_path / "second.log") as launcher:
            login = httpx.post(
                f"{gateway}/api/auth/login", json={"email": email, "password": password}, timeout=10
            )
            assert login.status_code == 200
        assert launcher.returncode == 0
    finally:
        asyncio.run(delete_stack_broker_names(amqp_url, names))


def test_run_says_what_to_install_when_rabbitmq_is_missing(tmp_path: Path) -> None:
    # Nothing listens on the port, and rabbitmq-server is not on this PATH: as on a machine
    # without it.
    env = os.environ | {
        "DATA_DIR": str(tmp_path / ".data"),
        "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/",
        "MONGODB_URL": "mongodb://127.0.0.1:1/?directConnection=true",
        "PATH": str(Path(sys.executable).parent),
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "devstack", "run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "RabbitMQ is not reachable" in result.stderr
    assert "apt-get install rabbitmq-server" in result.stderr
    assert "docker compose up" in result.stderr
    assert time.monotonic() - started < 30


def _in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_embedded_database_can_keep_a_commit_through_a_crash(tmp_path: Path) -> None:
    """With EMBEDDED_DB_SYNC, SecantusDB flushes its log at every commit: a write answered just
    before the server is killed (SIGKILL) is there after it restarts. (Without it, one written
    within about 0.1 s of the kill can be lost: docs/operations.md.)"""
    stack = Stack(data_dir=tmp_path, mongo_port=free_port(), mongo_sync_on_commit=True)
    try:
        client: MongoClient[dict[str, object]] = MongoClient(stack.start_mongo())
        with client, client.start_session() as session:
            for n in range(20):
                with session.start_transaction():
                    client.t.kept.insert_one({"_id": n}, session=session)
        stack.kill("mongo")  # at once: no time for a flush of its own
        stack.mongodb_url = None
        reopened: MongoClient[dict[str, object]] = MongoClient(stack.start_mongo())
        with reopened:
            assert reopened.t.kept.count_documents({}) == 20
    finally:
        stack.stop()
