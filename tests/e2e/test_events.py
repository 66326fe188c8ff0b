"""user.* events reach the bus: once per change, even across a crash."""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.conftest import E2E
from tests.support import event_tap, eventually, unique_email


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

        async def all_five() -> bool:
            return len(tap.messages) >= 5

        assert await eventually(all_five, timeout=5)
        await asyncio.sleep(0.5)  # any extra (wrong) event would arrive by now

    bodies = tap.bodies()
    assert sorted(b["data"]["email"] for b in bodies) == sorted(emails)
    assert len({b["id"] for b in bodies}) == 5
    for message, body in zip(tap.messages, bodies, strict=True):
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
        await asyncio.sleep(1.5)
        assert tap.bodies() == []
        # ...then the process dies hard (SIGKILL), as in a crash, and comes back normally.
        await asyncio.to_thread(stack.restart_service, "user_service", {})
        await asyncio.to_thread(stack.wait_service_ready, "user_service")

        async def delivered() -> bool:
            return any(b["data"]["email"] == email for b in tap.bodies())

        assert await eventually(delivered, timeout=10)
        await asyncio.sleep(0.5)
    assert [b["data"]["email"] for b in tap.bodies()] == [email]
