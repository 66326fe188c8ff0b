"""Upstream trouble seen through a gateway: JSON 503 when down, 504 when too slow."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devstack.stack import SERVICES, Stack
from tests.e2e.conftest import E2E
from tests.support import free_port, register_and_login, wait_until


@pytest.fixture
async def slow_server() -> AsyncIterator[str]:
    """Accepts connections and reads requests, but never answers."""

    done = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await done.wait()
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    done.set()
    server.close()
    await asyncio.sleep(0.05)


@pytest.fixture
def troubled_gateway(e2e: E2E, slow_server: str, tmp_path: object) -> Iterator[str]:
    """A second gateway: expense_service points at a closed port, budget_service at a mute one."""
    stack: Stack = e2e.stack
    upstreams = {name: [stack.service_url(name)] for name in SERVICES}
    upstreams["expense_service"] = [f"http://127.0.0.1:{free_port()}"]
    upstreams["budget_service"] = [slow_server]
    port = free_port()
    env = os.environ | {
        "MONGODB_URL": e2e.mongodb_url,
        "MONGODB_DB": "gateway_troubled",
        "AMQP_URL": e2e.amqp_url,
        "EVENTS_EXCHANGE": e2e.names.exchange,
        "QUEUE_PREFIX": e2e.names.queue_prefix + "troubled.",
        "JWKS_URL": f"{stack.service_url('user_service')}/.well-known/jwks.json",
        "UPSTREAMS": json.dumps(upstreams),
        "UPSTREAM_TIMEOUT": "0.5",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "gateway.app:create_app",
            "--port",
            str(port),
            "--no-access-log",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, 30, "second gateway")
        yield url
    finally:
        process.terminate()
        process.wait(15)


async def test_down_is_503_and_slow_is_504_as_json(
    client: httpx.AsyncClient, troubled_gateway: str
) -> None:
    account = await register_and_login(client)
    async with httpx.AsyncClient(base_url=troubled_gateway, timeout=10) as gateway:
        down = await gateway.get("/api/expenses", headers=account.headers)
        assert down.status_code == 503
        assert down.json() == {"detail": "expense_service is unavailable"}

        slow = await gateway.get("/api/budgets", headers=account.headers)
        assert slow.status_code == 504
        assert "did not answer within 0.5s" in slow.json()["detail"]

        # The healthy service is still served by the same gateway.
        me = await gateway.get("/api/users/me", headers=account.headers)
        assert me.status_code == 200

        ready = await gateway.get("/ready")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["expense_service"] is False
        assert checks["budget_service"] is False
        assert checks["user_service"] is True


async def test_unknown_api_path_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "no API route /api/nothing-here"}
