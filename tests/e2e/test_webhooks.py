"""Webhooks through the gateway with a real local receiver: signed deliveries that a Standard
Webhooks verifier accepts, retries with the same webhook-id, a slow receiver that delays no
other, disabling after repeated failures (and telling the owner), the ping, and URLs refused."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from tests.e2e.problems import detail
from tests.e2e.test_notifications import feed
from tests.support import Account, eventually, free_port, register_and_login


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1. ``fail[path]``: how many more requests to that path get
    500; ``slow``: paths that hold the request until ``release`` is set."""

    port: int
    received: list[Received] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    slow: set[str] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    open_slow: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body))
        if request.path in self.slow:
            self.open_slow += 1
            try:
                await self.release.wait()
            finally:
                self.open_slow -= 1
        if self.fail.get(request.path, 0) > 0:
            self.fail[request.path] -= 1
            return web.Response(status=500, text="not today")
        return web.Response(status=204)


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver(free_port())
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", receiver.port)
    await site.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        await runner.cleanup()


async def hook(
    client: httpx.AsyncClient, account: Account, url: str, *events: str
) -> dict[str, Any]:
    response = await client.post(
        "/api/webhooks",
        json={"url": url, "events": list(events) or ["expense.created"]},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def spend(client: httpx.AsyncClient, account: Account, amount: str = "12.34") -> str:
    response = await client.post(
        "/api/expenses",
        json={"amount": amount, "category": "food", "date": "2026-11-05", "description": "café"},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    expense_id: str = response.json()["id"]
    return expense_id


async def test_signed_deliveries_retries_and_the_ping(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    async with receiving() as receiver:
        created = await hook(client, account, receiver.url("/hook"), "expense.created")
        secret = created["secret"]
        assert secret.startswith("whsec_")
        shown = await client.get(f"/api/webhooks/{created['id']}", headers=account.headers)
        assert "secret" not in shown.json()

        receiver.fail["/hook"] = 2  # two 500s, then it takes it
        expense_id = await spend(client, account)

        async def three_attempts() -> bool:
            return len(receiver.at("/hook")) >= 3

        await eventually(three_attempts, timeout=15, what="two retries")
        attempts = receiver.at("/hook")
        assert len({a.headers["webhook-id"] for a in attempts}) == 1  # the same message id
        for attempt in attempts:
            verified = Webhook(secret).verify(attempt.body, attempt.headers)
            assert verified["type"] == "expense.created"
            assert verified["data"]["expense_id"] == expense_id
            assert verified["data"]["amount"] == "12.34"
            assert verified["data"]["description"] == "café"
        forged = {**attempts[0].headers, "webhook-signature": "v1,AAAA"}
        with pytest.raises(Exception, match="signature"):
            Webhook(secret).verify(attempts[0].body, forged)

        async def logged() -> list[dict[str, Any]]:
            got = await client.get(
                f"/api/webhooks/{created['id']}/deliveries", headers=account.headers
            )
            items: list[dict[str, Any]] = got.json()
            return items if len(items) == 3 else []

        log = await eventually(logged, what="three attempts in /deliveries")
        assert [a["status_code"] for a in reversed(log)] == [500, 500, 204]
        assert {a["delivery_id"] for a in log} == {attempts[0].headers["webhook-id"]}

        ping = await client.post(f"/api/webhooks/{created['id']}/test", headers=account.headers)
        assert ping.status_code == 202, ping.text

        async def pinged() -> list[Received]:
            return [r for r in receiver.at("/hook") if r.payload["type"] == "webhook.test"]

        (delivered,) = await eventually(pinged, what="the ping")
        assert (
            Webhook(secret).verify(delivered.body, delivered.headers)["data"]["message"] == "ping"
        )

        other = await register_and_login(client)
        for method in ("GET", "PATCH", "DELETE"):
            answer = await client.request(
                method, f"/api/webhooks/{created['id']}", headers=other.headers, json={}
            )
            assert answer.status_code == 404, (method, answer.text)


async def test_a_slow_receiver_delays_no_other(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    async with receiving() as receiver:
        receiver.slow.add("/slow")
        await hook(client, account, receiver.url("/slow"))
        await hook(client, account, receiver.url("/fast"))
        await spend(client, account)

        async def fast_while_slow_hangs() -> bool:
            return bool(receiver.at("/fast")) and receiver.open_slow > 0

        await eventually(fast_while_slow_hangs, timeout=10, what="/fast while /slow hangs")


async def test_a_failing_webhook_is_disabled_and_its_owner_told(
    client: httpx.AsyncClient,
) -> None:
    account = await register_and_login(client)
    async with receiving() as receiver:
        receiver.fail["/down"] = 1_000
        created = await hook(client, account, receiver.url("/down"))
        await spend(client, account, "1.00")
        await spend(client, account, "2.00")

        async def disabled() -> dict[str, Any] | None:
            got = await client.get(f"/api/webhooks/{created['id']}", headers=account.headers)
            body: dict[str, Any] = got.json()
            return body if not body["enabled"] else None

        state = await eventually(disabled, timeout=20, what="the webhook to be disabled")
        assert "in a row failed" in state["disabled_reason"]
        notes = [n for n in await feed(client, account) if n["type"] == "webhook.disabled"]
        assert len(notes) == 1
        assert receiver.url("/down") in notes[0]["body"]
        # Enabled again by its owner: deliveries resume.
        receiver.fail["/down"] = 0
        enabled = await client.patch(
            f"/api/webhooks/{created['id']}", json={"enabled": True}, headers=account.headers
        )
        assert enabled.json()["enabled"] is True
        before = len(receiver.at("/down"))
        await spend(client, account, "3.00")

        async def resumed() -> bool:
            return any(r.payload["data"]["amount"] == "3.00" for r in receiver.at("/down")[before:])

        await eventually(resumed, what="a delivery after enabling")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://169.254.169.254/latest/meta-data/", "may not be called"),
        ("http://10.0.0.7/hook", "may not be called"),
        ("http://[::ffff:192.168.1.1]/hook", "may not be called"),
        ("ftp://example.com/hook", "http(s)"),
        ("http://user:pw@127.0.0.1/hook", "credentials"),
        ("http://no-such-host.invalid/hook", "does not resolve"),
        ("https://example.com:99999/hook", "not a valid URL"),
        ("http://[::1/hook", "not a valid URL"),
        ("http://[64:ff9b::a9fe:a9fe]/hook", "may not be called"),
    ],
)
async def test_unsafe_urls_are_refused(client: httpx.AsyncClient, url: str, words: str) -> None:
    account = await register_and_login(client)
    response = await client.post(
        "/api/webhooks", json={"url": url, "events": ["expense.created"]}, headers=account.headers
    )
    assert response.status_code == 422, response.text
    assert words in detail(response)


async def test_bad_event_names_are_refused(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    response = await client.post(
        "/api/webhooks",
        json={"url": "http://127.0.0.1:9/h", "events": ["user.deleted"]},
        headers=account.headers,
    )
    assert response.status_code == 422
    assert "events" in detail(response)
