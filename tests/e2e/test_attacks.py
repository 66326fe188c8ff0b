"""Attacks that once worked (issue 9), kept as tests so they stay closed: path spellings past the
route table, revoked tokens on services called directly, login-limit bypasses, input that made
500s, overload, oversized heads and slow clients, duplicated headers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from tests.e2e.conftest import next_source_address
from tests.e2e.test_security import requests_seen
from tests.support import Account, eventually, register_and_login

# Every spelling seen to climb out of a service's prefix, and the neighbours of each.
TRAVERSALS = [
    "/api/budgets/%2e%2e/%2e%2e/metrics",
    "/api/budgets/%2E%2E/%2E%2E/metrics",
    "/api/budgets/../../metrics",
    "/api/budgets/.%2e/.%2e/docs",
    "/api/budgets/%2e./%2e./.well-known/jwks.json",
    "/api/budgets/%2e%2e/%2e%2e/internal/reservations",
    "/api/budgets/..%2f..%2finternal/reservations",
    "/api/budgets/..%2F..%2Fmetrics",
    "/api/budgets/..%5c..%5cmetrics",
    "/api/budgets/%252e%252e/%252e%252e/metrics",
    "/api/budgets/./../../metrics",
    "/api/budgets//../metrics",
    "/api/expenses/%2e%2e/%2e%2e/internal/reservations",
]


async def send_raw_path(
    stack: Stack, method: str, raw: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """Sends ``raw`` byte for byte on a socket: HTTP clients remove dot segments themselves."""
    head = [f"{method} {raw} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    body = b'{"amount_cents": 1}' if method == "POST" else b""
    head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    request = "\r\n".join(head).encode() + b"\r\n\r\n" + body
    response, _ = await asyncio.to_thread(raw_exchange, stack.ports["gateway"], request)
    _, _, payload = response.partition(b"\r\n\r\n")
    return status_of(response), json.loads(payload)


@pytest.mark.parametrize("raw", TRAVERSALS)
async def test_no_spelling_of_a_path_climbs_out_of_its_service(
    client: httpx.AsyncClient, stack: Stack, raw: str
) -> None:
    account = await register_and_login(client)
    budget_service = stack.service_url("budget_service")
    metrics_before = await requests_seen(budget_service, "/metrics")
    reservations_before = await requests_seen(budget_service, "/internal/reservations")

    for method in ("GET", "POST"):
        status, body = await send_raw_path(stack, method, raw, account.headers)
        assert status == 400, (method, raw, body)
        assert "refused path" in body["detail"]

    # requests_seen itself reads /metrics: the two reads above are the only ones since.
    assert await requests_seen(budget_service, "/metrics") == metrics_before + 2
    assert await requests_seen(budget_service, "/internal/reservations") == reservations_before


async def test_internal_routes_are_not_routed_however_written(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    account = await register_and_login(client)
    for raw in ("/api/budgets/internal/reservations", "/api/budget/internal/reservations"):
        status, _ = await send_raw_path(stack, "POST", raw, account.headers)
        assert status in {404, 405}, raw


@pytest.mark.parametrize("code", range(0x20))
async def test_control_characters_in_an_id_are_400_not_500(stack: Stack, code: int) -> None:
    # Refused before authentication: the path is checked first, token or not.
    status, body = await send_raw_path(stack, "GET", f"/api/expenses/%{code:02x}")
    assert status == 400
    assert body["status"] == 400
    assert "control characters" in body["detail"]


# -- revoked tokens on every service, called directly ------------------------------------------

DIRECT_CALLS = [
    ("expense_service", "GET", "/api/expenses", None),
    (
        "expense_service",
        "POST",
        "/api/expenses",
        {"amount": "5.00", "category": "food", "date": "2026-10-02"},
    ),
    ("budget_service", "POST", "/api/budgets", {"month": "2026-10", "amount": "100"}),
    ("budget_service", "GET", "/api/budgets/status", None),
    ("analytics_service", "GET", "/api/analytics/summary", None),
    ("notification_service", "GET", "/api/notifications", None),
    # Served outside the router (notification_service.routes.StreamLane); refusals end at once.
    ("notification_service", "GET", "/api/notifications/stream", None),
]


async def refused_everywhere(stack: Stack, headers: dict[str, str], detail: str) -> None:
    """Waits until the revocation has reached every process, then checks each call is 401."""
    async with httpx.AsyncClient(timeout=10) as direct:

        async def all_refused() -> bool:
            for service, method, path, body in DIRECT_CALLS:
                response = await direct.request(
                    method, stack.service_url(service) + path, headers=headers, json=body
                )
                if response.status_code != 401:
                    return False
            return True

        assert await eventually(all_refused, timeout=5), "a service still accepts the token"
        for service, method, path, body in DIRECT_CALLS:
            response = await direct.request(
                method, stack.service_url(service) + path, headers=headers, json=body
            )
            assert response.status_code == 401, (service, method, path)
            assert response.json()["detail"] == detail, (service, path)


async def accepted_everywhere(stack: Stack, account: Account) -> None:
    async with httpx.AsyncClient(timeout=10) as direct:
        for service, method, path, body in DIRECT_CALLS:
            url = stack.service_url(service) + path
            # A live stream stays open: its answer's head is what says it was accepted.
            async with direct.stream(method, url, headers=account.headers, json=body) as response:
                assert response.status_code in {200, 201}, (service, path, response.status_code)


async def test_tokens_from_before_a_password_change_are_refused_by_every_service(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    account = await register_and_login(client)
    await accepted_everywhere(stack, account)
    changed = await client.post(
        "/api/users/me/password",
        headers=account.headers,
        json={"current_password": account.password, "new_password": "a new passphrase"},
    )
    assert changed.status_code == 200
    await refused_everywhere(stack, account.headers, "token has been revoked; log in again")
    # ...and the new token works on each of them.
    account.tokens = changed.json()
    await accepted_everywhere(stack, account)


async def test_tokens_after_logout_everywhere_are_refused_by_every_service(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    account = await register_and_login(client)
    await accepted_everywhere(stack, account)
    out = await client.post("/api/auth/logout", headers=account.headers, json={"everywhere": True})
    assert out.status_code == 204
    await refused_everywhere(stack, account.headers, "token has been revoked; log in again")


async def test_a_deleted_account_cannot_write_anywhere(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    account = await register_and_login(client)
    await accepted_everywhere(stack, account)
    assert (await client.delete("/api/users/me", headers=account.headers)).status_code == 204
    await refused_everywhere(stack, account.headers, "account no longer exists")


async def test_a_replica_started_later_knows_earlier_revocations(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    """A process loads the revocations recorded before it started (and is not ready before)."""
    account = await register_and_login(client)
    out = await client.post("/api/auth/logout", headers=account.headers, json={"everywhere": True})
    assert out.status_code == 204
    await refused_everywhere(stack, account.headers, "token has been revoked; log in again")
    replica = stack.start_replica("budget_service")
    try:
        stack.wait_service_ready(replica)
        async with httpx.AsyncClient(base_url=stack.service_url(replica)) as direct:
            response = await direct.get("/api/budgets/status", headers=account.headers)
        assert response.status_code == 401
        assert response.json()["detail"] == "token has been revoked; log in again"
    finally:
        stack.kill(replica)


# -- the login limit ------------------------------------------------------------------------


async def test_parallel_wrong_logins_cannot_overrun_the_limit(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    victim = await register_and_login(client)

    async def guess(n: int) -> int:
        transport = httpx.AsyncHTTPTransport(local_address=next_source_address())
        async with httpx.AsyncClient(
            base_url=stack.gateway_url, transport=transport, timeout=30
        ) as own:
            response = await own.post(
                "/api/auth/login", json={"email": victim.email, "password": f"guess {n:04}"}
            )
            return response.status_code

    statuses = Counter(await asyncio.gather(*(guess(n) for n in range(50))))
    assert statuses == Counter({401: 10, 429: 40})


@pytest.mark.parametrize(
    "content_type",
    ["Application/JSON", "application/json; charset=utf-8", "APPLICATION/JSON ; x=y"],
)
async def test_content_type_spelling_does_not_hide_the_account(
    client: httpx.AsyncClient, stack: Stack, content_type: str
) -> None:
    victim = await register_and_login(client)

    async def login(password: str, via: str) -> httpx.Response:
        transport = httpx.AsyncHTTPTransport(local_address=next_source_address())
        async with httpx.AsyncClient(base_url=via, transport=transport, timeout=30) as own:
            body = json.dumps({"email": victim.email, "password": password})
            return await own.post(
                "/api/auth/login", content=body, headers={"Content-Type": content_type}
            )

    for n in range(10):
        assert (await login(f"wrong {n}", stack.gateway_url)).status_code == 401
    # Locked, however the body is labelled, and whether through the gateway or not.
    for via in (stack.gateway_url, stack.service_url("user_service")):
        right = await login(victim.password, via)
        assert right.status_code == 429, (via, right.text)
        assert int(right.headers["retry-after"]) >= 1


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/token"])
async def test_a_password_over_72_bytes_is_a_wrong_password_not_a_500(
    client: httpx.AsyncClient, path: str
) -> None:
    account = await register_and_login(client)
    long_password = account.password + "x" * 80
    if path.endswith("token"):
        response = await client.post(
            path, data={"username": account.email, "password": long_password}
        )
    else:
        response = await client.post(path, json={"email": account.email, "password": long_password})
    assert response.status_code == 401
    assert response.json()["detail"] == "incorrect email or password"


async def test_a_current_password_over_72_bytes_is_incorrect_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    account = await register_and_login(client)
    response = await client.post(
        "/api/users/me/password",
        headers=account.headers,
        json={"current_password": "é" * 60, "new_password": "another passphrase"},
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "current password is incorrect"


# -- overload -------------------------------------------------------------------------------


async def test_a_burst_of_logins_is_answered_200_or_503_never_a_timeout(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    accounts = [await register_and_login(client) for _ in range(12)]

    async def login(n: int) -> tuple[int, float, str | None]:
        account = accounts[n % len(accounts)]
        transport = httpx.AsyncHTTPTransport(local_address=next_source_address())
        async with httpx.AsyncClient(
            base_url=stack.gateway_url, transport=transport, timeout=60
        ) as own:
            started = time.monotonic()
            response = await own.post(
                "/api/auth/login", json={"email": account.email, "password": account.password}
            )
            return (
                response.status_code,
                time.monotonic() - started,
                response.headers.get("retry-after"),
            )

    results = await asyncio.gather(*(login(n) for n in range(120)))
    statuses = Counter(status for status, _, _ in results)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] >= 2, statuses
    assert statuses[503] >= 1, statuses
    assert all(retry == "1" for status, _, retry in results if status == 503)
    # Shed early: the refused ones wait at most the queue's bound, far from the 30 s timeout.
    assert max(seconds for status, seconds, _ in results if status == 503) < 15


async def test_a_client_that_gives_up_leaves_no_hash_running(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    accounts = [await register_and_login(client) for _ in range(4)]
    user_service = stack.service_url("user_service")
    dropped_before = await requests_seen(user_service, "/api/auth/login", "499")

    async def impatient(n: int) -> None:
        account = accounts[n % len(accounts)]
        transport = httpx.AsyncHTTPTransport(local_address=next_source_address())
        async with httpx.AsyncClient(
            base_url=stack.gateway_url, transport=transport, timeout=0.2
        ) as own:
            with contextlib.suppress(httpx.TimeoutException):
                await own.post(
                    "/api/auth/login",
                    json={"email": account.email, "password": account.password},
                )

    await asyncio.gather(*(impatient(n) for n in range(24)))

    async def dropped() -> float:
        return await requests_seen(user_service, "/api/auth/login", "499") - dropped_before

    # Most were still queued when their client left: dropped, never hashed. Each is counted
    # when a hashing slot comes to it, after the few hashes that had begun (most of a second
    # each at 12 rounds on a slow machine). Once, in a whole run on a slow machine, 10 had not
    # been counted within 10 s (22 of 24 are, alone or with this module); why is not known, so
    # a failure now says what was counted.
    try:
        await eventually(lambda: _at_least(dropped, 10), timeout=30)
    except AssertionError:
        seen = {s: await requests_seen(user_service, "/api/auth/login", s) for s in STATUSES}
        raise AssertionError(
            f"{await dropped()} dropped; logins by status so far: {seen}"
        ) from None


STATUSES = ("200", "401", "429", "499", "503")


async def _at_least(count: Any, minimum: float) -> bool:
    return bool(await count() >= minimum)


# -- heads, slow clients, duplicated headers ------------------------------------------------


def raw_exchange(port: int, data: bytes, read_seconds: float = 10.0) -> tuple[bytes, float]:
    """Sends ``data`` on a fresh connection and reads until the server closes it."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=read_seconds) as sock:
        sock.sendall(data)
        received = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    return received, time.monotonic() - started


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"X-Big: " + b"a" * (1024 * 1024) + b"\r\n", 431),
        (b"".join(b"X-H%d: v\r\n" % n for n in range(2000)), 431),
    ],
)
async def test_oversized_heads_are_431(stack: Stack, head: bytes, status: int) -> None:
    request = b"GET /api/users/me HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n"
    response, _ = await asyncio.to_thread(raw_exchange, stack.ports["gateway"], request)
    assert status_of(response) == status
    assert b"application/problem+json" in response


async def test_a_long_request_line_is_414(stack: Stack) -> None:
    request = b"GET /api/expenses?q=" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    response, _ = await asyncio.to_thread(raw_exchange, stack.ports["gateway"], request)
    assert status_of(response) == 414


@pytest.mark.parametrize(
    "partial",
    [
        b"",  # connects and says nothing
        b"GET /api/users/me HTTP/1.1\r\nHost: x\r\n",  # half a head
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n" + b'{"email"',  # half a body
    ],
)
async def test_slow_clients_are_cut_off(stack: Stack, partial: bytes) -> None:
    # The e2e stack runs with HTTP_HEADER_TIMEOUT=2 and HTTP_BODY_IDLE_TIMEOUT=2.
    response, seconds = await asyncio.to_thread(raw_exchange, stack.ports["gateway"], partial)
    assert status_of(response) == 408
    assert 1.5 <= seconds < 6


async def test_many_slow_clients_do_not_stop_others(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    sockets = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", stack.ports["gateway"]))
            sock.sendall(b"GET /api/users/me HTTP/1.1\r\nHost: x\r\n")
            sockets.append(sock)
        account = await register_and_login(client)
        assert (await client.get("/api/users/me", headers=account.headers)).status_code == 200

        def closed(sock: socket.socket) -> bool:
            sock.settimeout(6)
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                while sock.recv(65536):
                    pass
            return True

        assert all(await asyncio.to_thread(lambda: [closed(s) for s in sockets]))
    finally:
        for sock in sockets:
            sock.close()


async def test_proxied_responses_carry_date_and_server_once(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    response = await client.get("/api/users/me", headers=account.headers)
    names = [name.lower() for name, _ in response.headers.multi_items()]
    assert names.count("date") == 1
    assert names.count("server") <= 1
