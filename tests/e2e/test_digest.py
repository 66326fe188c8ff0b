"""The weekly digest through the gateway: two notification_service replicas whose clocks are set
just before Monday 08:00 of the user's time zone produce one digest per user and week, in the
feed, on the live stream and by email, with the figures of the week before."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pymongo import AsyncMongoClient

from tests.e2e.conftest import E2E
from tests.e2e.test_notifications import feed, welcomed
from tests.support import Account, eventually, listening, register_and_login

TIMEZONE = "America/New_York"


def next_monday_8(zone: str) -> datetime:
    """Monday 08:00 in ``zone``, at least a day from now (so the stack's own, real-clock
    notification_service is not due yet)."""
    local = datetime.now(ZoneInfo(zone))
    day = local.date() + timedelta(days=(7 - local.weekday()) % 7 or 7)
    if datetime.combine(day, time(8), ZoneInfo(zone)) - local < timedelta(days=1):
        day += timedelta(days=7)
    return datetime.combine(day, time(8), ZoneInfo(zone))


async def spend(
    client: httpx.AsyncClient, account: Account, day: date, amount: str, category: str = "food"
) -> None:
    response = await client.post(
        "/api/expenses",
        json={"amount": amount, "category": category, "date": day.isoformat()},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text


def digests(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in items if item["type"] == "weekly_digest"]


async def test_one_digest_per_week_with_two_replicas(client: httpx.AsyncClient, e2e: E2E) -> None:
    monday = next_monday_8(TIMEZONE)
    week_start, week_end = monday.date() - timedelta(days=7), monday.date() - timedelta(days=1)
    users = [await register_and_login(client, timezone=TIMEZONE) for _ in range(3)]
    quiet = await register_and_login(client, timezone=TIMEZONE)
    for account in (*users, quiet):
        await welcomed(client, account)
    off = await client.patch(
        "/api/notifications/preferences", json={"weekly_digest": False}, headers=quiet.headers
    )
    assert off.status_code == 200, off.text
    main = users[0]
    for n in range(7):
        await spend(client, main, week_start + timedelta(days=n), "10.00")
    await spend(client, main, week_start - timedelta(days=3), "35.00")  # the week before
    await spend(client, main, week_end, "20.00", "travel")

    async def projected() -> bool:  # analytics has every expense of the main user
        summary = await client.get(
            "/api/analytics/weekly", params={"weeks": 52}, headers=main.headers
        )
        return summary.status_code == 200 and any(
            w["start"] == week_start.isoformat() and w["expense"] == "90.00"
            for w in summary.json()["weeks"]
        )

    # The weekly view counts Monday-Sunday weeks: the digest's week is one of them.
    assert week_start.weekday() == 0
    await eventually(projected, timeout=10, what="analytics to count the week")

    env = {
        "CLOCK_START": (monday - timedelta(seconds=3)).isoformat(),
        "DIGEST_HORIZON_SECONDS": "1",
    }
    stack = e2e.stack
    async with listening(client, "/api/notifications/stream", main.headers) as stream:
        replicas = [
            await asyncio.to_thread(stack.start_replica, "notification_service", suffix, env)
            for suffix in ("monday-1", "monday-2")
        ]
        try:

            async def all_digested() -> bool:
                return all([digests(await feed(client, u)) for u in users])

            await eventually(all_digested, timeout=30, interval=0.2, what="every digest")

            async def live() -> list[dict[str, str]]:
                return [e for e in stream.events if '"weekly_digest"' in e.get("data", "")]

            assert await eventually(live, what="the digest on the live stream")
            await eventually(
                lambda: _digest_emails(e2e, users), timeout=10, what="the digest emails"
            )
        finally:
            for replica in replicas:
                await asyncio.to_thread(stack.kill, replica)
    # Requested once per user, whichever replica won: the outbox holds every request made
    # (written with the schedule's move to next week, in one transaction).
    requested = await requests_made(e2e)
    assert [requested.count(u.user["id"]) for u in users] == [1, 1, 1]
    assert quiet.user["id"] not in requested
    for account in users:
        assert len(digests(await feed(client, account))) == 1
        assert len([m for m in e2e.smtp.to(account.email) if "Your week" in m["Subject"]]) == 1
    assert digests(await feed(client, quiet)) == []
    (digest,) = digests(await feed(client, main))
    data = digest["data"]
    assert (data["start"], data["end"]) == (week_start.isoformat(), week_end.isoformat())
    assert (data["spent"], data["income"]) == ("90.00", "0.00")
    assert data["top_categories"][0] == {
        "category": "food",
        "spent": "70.00",
        "previous": "35.00",
        "change_percent": "100",
    }
    assert "90.00" in digest["title"]


async def requests_made(e2e: E2E) -> list[str]:
    """The user of every digest.requested notification_service ever emitted."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(e2e.mongodb_url)
    try:
        return [
            doc["envelope"]["user_id"]
            async for doc in mongo["notifications"].outbox.find(
                {"envelope.type": "digest.requested"}
            )
        ]
    finally:
        await mongo.close()


async def _digest_emails(e2e: E2E, users: list[Account]) -> bool:
    return all(
        any("Your week" in m["Subject"] for m in e2e.smtp.to(account.email)) for account in users
    )


def test_next_monday_helper_is_a_monday_morning() -> None:
    monday = next_monday_8(TIMEZONE)
    assert (monday.weekday(), monday.hour) == (0, 8)
    assert monday - datetime.now(UTC) >= timedelta(days=1)
