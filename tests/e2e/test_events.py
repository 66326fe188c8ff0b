"""user.* events reach the bus: once per change, even across a crash."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.e2e.conftest import E2E
from tests.support import (
    EventTap,
    before_marker,
    event_tap,
    eventually,
    outbox_states,
    unique_email,
)


async def registered_before_marker(client: httpx.AsyncClient, tap: EventTap) -> list[Any]:
    """The user.registered events before a marker registration's (support.before_marker)."""
    marker_email = unique_email("marker")

    async def register_marker() -> None:
        marker = {"email": marker_email, "password": "password 123"}
        assert (await client.post("/api/auth/register", json=marker)).status_code == 201

    return await before_marker(
        tap, register_marker, lambda body: body["data"]["email"] == marker_email
    )


async def test_one_user_registered_event_per_registration(
    client: httpx.AsyncClient, e2e: E2E
) -> None:
    async with event_tap(e2e.amqp_url, e2e.names.exchange, "user.registered") as tap:
        emails = [unique_email() for _ in range(5)]
        request_ids = {}
        for email in emails:
            response = await client.post(
                "/api/auth/register", json={"email": email, "password": "password 123"}
            )
            assert response.status_code == 201
            request_ids[response.json()["id"]] = response.headers["x-request-id"]
        duplicate = await client.post(
            "/api/auth/register", json={"email": emails[0], "password": "password 123"}
        )
        assert duplicate.status_code == 409

        bodies = await registered_before_marker(client, tap)

    assert sorted(b["data"]["email"] for b in bodies) == sorted(emails)
    assert len({b["id"] for b in bodies}) == 5
    for message, body in zip(tap.messages[: len(bodies)], bodies, strict=True):
        assert body["type"] == "user.registered"
        assert body["producer"] == "user_service"
        assert body["user_id"] == body["data"]["user_id"]
        assert set(body["data"]) == {"user_id", "email", "name", "currency", "timezone"}
        assert message.message_id == body["id"]
        # The gateway's request id travels into the event.
        assert message.correlation_id == request_ids[body["user_id"]]


async def test_event_survives_a_crash_between_write_and_publish(
    client: httpx.AsyncClient, e2e: E2E
) -> None:
    stack = e2e.stack

    async with event_tap(e2e.amqp_url, e2e.names.exchange, "user.registered") as tap:
        # A user_service whose relay never runs: the write commits, the publish never happens...
        await asyncio.to_thread(
            stack.restart_service, "user_service", {"OUTBOX_RELAY_ENABLED": "false"}
        )
        await asyncio.to_thread(stack.wait_service_ready, "user_service")
        email = unique_email()
        response = await client.post(
            "/api/auth/register", json={"email": email, "password": "password 123"}
        )
        assert response.status_code == 201

        async def committed_unsent() -> bool:
            states = await outbox_states(e2e.mongodb_url, "users", "user.registered")
            return states.count("pending") == 1

        # The fact: the event is in the outbox, committed with the account, and not sent.
        assert await eventually(committed_unsent)
        assert tap.bodies() == []
        # ...then the process dies hard (SIGKILL), as in a crash, and comes back normally.
        await asyncio.to_thread(stack.restart_service, "user_service", {})
        await asyncio.to_thread(stack.wait_service_ready, "user_service")

        async def delivered() -> bool:  # by the restarted process's start-up sweep
            return any(b["data"]["email"] == email for b in tap.bodies())

        assert await eventually(delivered, timeout=10)
        bodies = await registered_before_marker(client, tap)
    assert [b["data"]["email"] for b in bodies] == [email]
