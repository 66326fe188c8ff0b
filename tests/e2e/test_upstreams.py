"""Upstream trouble seen through a gateway: JSON 503 when down, 504 when too slow."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from devstack.stack import SERVICES, Stack, wait_for
from tests.e2e.conftest import E2E
from tests.support import delete_queues, free_port, register_and_login


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


@dataclass
class StreamingServer:
    url: str
    chunks_sent: int = 0
    client_gone: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def streaming_server() -> AsyncIterator[StreamingServer]:
    """Answers with an endless chunked stream, a chunk every 50 ms, until the reader goes away."""
    state = StreamingServer(url="")

    async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while True:
                data = f"data: {state.chunks_sent}\n\n".encode()
                writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                await writer.drain()
                state.chunks_sent += 1
                await asyncio.sleep(0.05)
        except (ConnectionError, OSError):
            state.client_gone.set()
        finally:
            writer.close()

    server = await asyncio.start_server(stream, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    yield state
    server.close()


@pytest.fixture
async def troubled_gateway(
    e2e: E2E, slow_server: str, streaming_server: StreamingServer
) -> AsyncIterator[str]:
    """A second gateway: expense_service points at a closed port, budget_service at a mute one,
    analytics_service at an endless stream."""
    stack: Stack = e2e.stack
    upstreams = {name: [stack.service_url(name)] for name in SERVICES}
    upstreams["expense_service"] = [f"http://127.0.0.1:{free_port()}"]
    upstreams["budget_service"] = [slow_server]
    upstreams["analytics_service"] = [streaming_server.url]
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
        "CORS_ORIGINS": '["http://app.example"]',
    }
    process = await asyncio.to_thread(
        subprocess.Popen,
        [
            sys.executable,
            "-m",
            "shared.server",
            "gateway",
            "--port",
            str(port),
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
        await asyncio.to_thread(wait_for, answers, "the second gateway", 30)
        yield url
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 15)
        queue = f"{e2e.names.queue_prefix}troubled.gateway.events"
        await delete_queues(e2e.amqp_url, [queue, f"{queue}.dlq"])  # the exchange stays


async def test_down_is_503_and_slow_is_504_as_json(
    client: httpx.AsyncClient, troubled_gateway: str
) -> None:
    account = await register_and_login(client)
    async with httpx.AsyncClient(base_url=troubled_gateway, timeout=10) as gateway:
        down = await gateway.get("/api/expenses", headers=account.headers)
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json() == {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "expense_service is unavailable",
        }

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


async def test_unknown_api_paths_follow_one_rule(client: httpx.AsyncClient) -> None:
    """Without a token every non-public /api path is 401, known or not (a stranger learns
    nothing of the API's shape); with one, an unknown path is a 404 problem."""
    for path in ("/api/nothing-here", "/api/expenses/anything/unknown", "/api/budgetsx"):
        assert (await client.get(path)).status_code == 401, path
    account = await register_and_login(client)
    response = await client.get("/api/nothing-here", headers=account.headers)
    assert response.status_code == 404
    assert response.json()["detail"] == "no API route /api/nothing-here"
    unknown_under_prefix = await client.get("/api/expenses/a/b/c", headers=account.headers)
    assert unknown_under_prefix.status_code == 404


async def test_responses_stream_and_upstream_closes_when_client_leaves(
    client: httpx.AsyncClient,
    troubled_gateway: str,
    streaming_server: StreamingServer,
) -> None:
    account = await register_and_login(client)
    gateway = httpx.AsyncClient(base_url=troubled_gateway, timeout=5)
    async with (
        gateway,
        gateway.stream("GET", "/api/analytics/live", headers=account.headers) as live,
    ):
        assert live.status_code == 200
        assert live.headers["content-type"] == "text/event-stream"
        received = b""
        async for chunk in live.aiter_bytes():
            received += chunk
            if received.count(b"\n\n") >= 3:
                break
        # Streamed, not buffered: the body never ends, yet chunks arrive.
        assert received.startswith(b"data: 0\n\n")
    # The client has gone; the gateway must hang up on the upstream too (the upstream sees its
    # connection closed: that is the fact).
    await asyncio.wait_for(streaming_server.client_gone.wait(), timeout=3)


async def test_cors_is_configurable(troubled_gateway: str, client: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=troubled_gateway) as gateway:
        preflight = await gateway.options(
            "/api/users/me",
            headers={
                "Origin": "http://app.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://app.example"
        stranger = await gateway.options(
            "/api/users/me",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in stranger.headers
    # The main stack sets no origins: no CORS headers at all.
    plain = await client.get("/health", headers={"Origin": "http://app.example"})
    assert "access-control-allow-origin" not in plain.headers
