"""Budget alerts reaching the user: the feed, the live stream and the inbox, through the gateway."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from shared.events import BudgetThresholdReached, EventEnvelope
from tests.e2e.conftest import E2E, next_source_address
from tests.support import Account, eventually, listening, register_and_login

STREAM = "/api/notifications/stream"
DIGEST_DEFAULTS = {"weekly_digest": True, "digest_weekday": "monday", "digest_hour": 8}


async def emails_of(e2e: E2E, account: Account) -> list[dict[str, Any]]:
    """The user's emails in notification_service's queue. An email is queued in the same
    transaction as its notification, so once the notification shows, this is final."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(e2e.mongodb_url)
    try:
        return [
            doc
            async for doc in client["notifications"].emails.find({"user_id": account.user["id"]})
        ]
    finally:
        await client.close()


async def all_sent(e2e: E2E, account: Account, count: int) -> bool:
    emails = await emails_of(e2e, account)
    return len(emails) == count and all(email["state"] == "sent" for email in emails)


async def welcomed(client: httpx.AsyncClient, account: Account) -> None:
    """Until notification_service has the user (its welcome note is in the feed)."""

    async def in_feed() -> bool:
        return any(item["type"] == "welcome" for item in await feed(client, account))

    assert await eventually(in_feed, what="the welcome note")


async def feed(client: httpx.AsyncClient, account: Account, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/notifications", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def alerts_in(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in items if item["type"] == "budget.threshold_reached"]


async def spend(client: httpx.AsyncClient, account: Account, amount: str) -> None:
    response = await client.post(
        "/api/expenses",
        headers=account.headers,
        json={"amount": amount, "category": "food", "date": "2026-10-12"},
    )
    assert response.status_code == 201, response.text


async def food_budget(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.post(
        "/api/budgets",
        headers=account.headers,
        json={"month": "2026-10", "category": "food", "amount": 500},
    )
    assert response.status_code == 201


async def test_alert_reaches_feed_stream_and_inbox(client: httpx.AsyncClient, e2e: E2E) -> None:
    account = await register_and_login(client, name="Ann")
    await food_budget(client, account)
    async with listening(client, STREAM, account.headers) as live:
        await spend(client, account, "200")
        await spend(client, account, "210")

        async def all_three() -> bool:
            return bool(
                alerts_in(await feed(client, account))
                and live.events
                and e2e.smtp.to(account.email)
            )

        assert await eventually(all_three, timeout=2)  # the "within 2 seconds"
        [alert] = alerts_in(await feed(client, account))
        assert alert["title"] == "Food budget at 80%"
        assert alert["body"] == (
            "You've used 82% of your Food budget for October 2026: 410.00 of 500.00 USD."
        )
        assert (alert["data"]["threshold"], alert["data"]["spent"]) == ("0.8", "410.00")
        assert alert["read_at"] is None
        [event] = live.events
        assert event["event"] == "notification"
        assert json.loads(event["data"]) == alert
        [message] = e2e.smtp.to(account.email)
        assert message["Subject"] == "Food budget at 80%"
        plain = message.get_body(("plain",))
        markup = message.get_body(("html",))
        assert plain is not None
        assert markup is not None
        assert "410.00 of 500.00 USD" in plain.get_content()
        assert "<h2>Food budget at 80%</h2>" in markup.get_content()

        await spend(client, account, "100")

        async def exceeded() -> bool:
            return len(alerts_in(await feed(client, account))) == 2 and len(live.events) == 2

        assert await eventually(exceeded, timeout=2)
        newest = alerts_in(await feed(client, account))[0]
        assert newest["title"] == "Food budget exceeded"
        assert newest["body"].startswith("You've used 102% of your Food budget")

        async def second_email() -> bool:
            return len(e2e.smtp.to(account.email)) >= 2

        assert await eventually(second_email, timeout=2)
        # Two alerts queued two emails, both sent: no third can come.
        assert await eventually(lambda: all_sent(e2e, account, 2))
    assert len(e2e.smtp.to(account.email)) == 2
    # The welcome note came first; the feed is newest first.
    assert [item["type"] for item in await feed(client, account)][-1] == "welcome"


async def test_same_alert_delivered_three_times_notifies_once(
    client: httpx.AsyncClient, e2e: E2E
) -> None:
    account = await register_and_login(client)
    await welcomed(client, account)  # the profile (and address) reached notification_service
    alert = EventEnvelope.of(
        BudgetThresholdReached(
            budget_id="b1",
            month="2026-10",
            category="travel",
            threshold=Decimal("0.8"),
            spent=Decimal("81"),
            limit=Decimal("100"),
            percent=Decimal("81"),
            currency="USD",
        ),
        producer="budget_service",
        user_id=account.user["id"],
    )
    connection = await aio_pika.connect(e2e.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(e2e.names.exchange)
        # The same alert three times, then a marker alert of the same user: one user's events
        # are handled in order, so once the marker is in, every copy before it was handled.
        marker = EventEnvelope.of(
            alert.payload().model_copy(update={"budget_id": "marker"}),
            producer="budget_service",
            user_id=account.user["id"],
        )
        for envelope in (alert, alert, alert, marker):
            await exchange.publish(
                aio_pika.Message(envelope.model_dump_json().encode(), message_id=envelope.id),
                routing_key="budget.threshold_reached",
            )

    async def marker_arrived() -> bool:
        alerts = alerts_in(await feed(client, account))
        return any(item["data"]["budget_id"] == "marker" for item in alerts)

    assert await eventually(marker_arrived, timeout=5)
    alerts = alerts_in(await feed(client, account))
    assert sorted(item["data"]["budget_id"] for item in alerts) == ["b1", "marker"]
    assert await eventually(lambda: all_sent(e2e, account, 2))
    assert len(e2e.smtp.to(account.email)) == 2


async def test_smtp_down_keeps_the_notification_and_sends_later(
    client: httpx.AsyncClient, e2e: E2E
) -> None:
    account = await register_and_login(client)
    await food_budget(client, account)
    e2e.smtp.stop()
    try:
        await spend(client, account, "450")

        async def in_app() -> bool:
            return bool(alerts_in(await feed(client, account)))

        assert await eventually(in_app, timeout=3)

        async def retried() -> bool:  # sending was tried and failed, more than once
            emails = await emails_of(e2e, account)
            return len(emails) == 1 and emails[0]["attempts"] >= 2 and "last_error" in emails[0]

        assert await eventually(retried, timeout=5)
        assert e2e.smtp.to(account.email) == []
    finally:
        e2e.smtp.start()

    async def sent() -> bool:
        return bool(e2e.smtp.to(account.email))

    assert await eventually(sent, timeout=5)
    assert len(e2e.smtp.to(account.email)) == 1


async def test_other_users_never_see_them(client: httpx.AsyncClient, e2e: E2E) -> None:
    owner = await register_and_login(client)
    other = await register_and_login(client)
    await food_budget(client, owner)
    transport = httpx.AsyncHTTPTransport(local_address=next_source_address())
    async with (
        httpx.AsyncClient(
            base_url=e2e.stack.gateway_url, transport=transport, timeout=10
        ) as other_client,
        listening(other_client, STREAM, other.headers) as others_stream,
        listening(client, STREAM, owner.headers) as owners_stream,
    ):
        await spend(client, owner, "420")
        assert await eventually(lambda: asyncio.sleep(0, owners_stream.events), timeout=3)
        # The other user's own alert comes later on their stream, and alone.
        await food_budget(other_client, other)
        await spend(other_client, other, "430")
        assert await eventually(lambda: asyncio.sleep(0, others_stream.events), timeout=3)
        [own] = others_stream.events
        assert json.loads(own["data"])["data"]["spent"] == "430.00"
    assert len(alerts_in(await feed(client, other))) == 1
    alert = alerts_in(await feed(client, owner))[0]
    for method, path in (
        ("POST", f"/api/notifications/{alert['id']}/read"),
        ("DELETE", f"/api/notifications/{alert['id']}"),
    ):
        response = await client.request(method, path, headers=other.headers)
        assert response.status_code == 404, path
    assert (await feed(client, owner))[0]["read_at"] is None


async def test_preferences_are_honoured(client: httpx.AsyncClient, e2e: E2E) -> None:
    account = await register_and_login(client)
    assert (await client.get("/api/notifications/preferences", headers=account.headers)).json() == {
        "in_app": True,
        "email": True,
        **DIGEST_DEFAULTS,
    }
    put = await client.put(
        "/api/notifications/preferences",
        headers=account.headers,
        json={"in_app": True, "email": False, **DIGEST_DEFAULTS},
    )
    assert put.json() == {"in_app": True, "email": False, **DIGEST_DEFAULTS}
    bad = await client.put(
        "/api/notifications/preferences", headers=account.headers, json={"email": {"$ne": None}}
    )
    assert bad.status_code == 422
    await food_budget(client, account)
    await spend(client, account, "400")

    async def in_app() -> bool:
        return bool(alerts_in(await feed(client, account)))

    assert await eventually(in_app, timeout=3)
    assert await emails_of(e2e, account) == []  # none queued with it: none will be sent
    assert e2e.smtp.to(account.email) == []

    await client.patch(
        "/api/notifications/preferences",
        headers=account.headers,
        json={"in_app": False, "email": True},
    )
    await spend(client, account, "100")  # 100%

    async def emailed() -> bool:
        return bool(e2e.smtp.to(account.email))

    assert await eventually(emailed, timeout=3)
    assert len(alerts_in(await feed(client, account))) == 1  # no new feed entry


async def test_feed_reading_and_replay(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    await food_budget(client, account)
    await spend(client, account, "400")  # 80%
    await spend(client, account, "100")  # 100%: one alert per threshold crossed

    async def two() -> bool:
        return len(alerts_in(await feed(client, account))) == 2

    assert await eventually(two, timeout=3)
    count = await client.get("/api/notifications/unread-count", headers=account.headers)
    assert count.json() == {"count": 3}  # the welcome and two alerts
    newest = (await feed(client, account))[0]
    read = await client.post(f"/api/notifications/{newest['id']}/read", headers=account.headers)
    assert read.json()["read_at"] is not None
    again = await client.post(f"/api/notifications/{newest['id']}/read", headers=account.headers)
    assert again.json()["read_at"] == read.json()["read_at"]  # the first reading stands
    assert [i["id"] for i in await feed(client, account, unread="false")] == [newest["id"]]
    assert len(await feed(client, account, unread="true")) == 2
    page = (
        await client.get(
            "/api/notifications", params={"limit": 1, "offset": 1}, headers=account.headers
        )
    ).json()
    assert (page["total"], len(page["items"])) == (3, 1)
    read_all = await client.post("/api/notifications/read-all", headers=account.headers)
    assert read_all.json() == {"updated": 2}
    assert (
        await client.get("/api/notifications/unread-count", headers=account.headers)
    ).json() == {"count": 0}

    # Reconnecting with Last-Event-ID replays everything after it, in order.
    async with listening(client, STREAM, {**account.headers, "Last-Event-ID": "1"}) as replay:
        assert await eventually(lambda: asyncio.sleep(0, len(replay.events) >= 2), timeout=3)
    assert [e["id"] for e in replay.events] == ["2", "3"]
    assert json.loads(replay.events[-1]["data"])["id"] == newest["id"]

    deleted = await client.delete(f"/api/notifications/{newest['id']}", headers=account.headers)
    assert deleted.status_code == 204
    assert len(await feed(client, account)) == 2
    assert (
        await client.delete(f"/api/notifications/{newest['id']}", headers=account.headers)
    ).status_code == 404
    for params in ({"limit": 0}, {"limit": 500}, {"unread": "perhaps"}):
        response = await client.get("/api/notifications", params=params, headers=account.headers)
        assert response.status_code == 422, params


async def test_idle_streams_get_heartbeats(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    async with listening(client, STREAM, account.headers) as live:
        assert live.status == 200
        assert await eventually(lambda: asyncio.sleep(0, live.comments), timeout=3)
    assert live.comments[0].startswith(": ping")
    assert (await client.get(STREAM)).status_code == 401


@pytest.mark.parametrize("service", ["notification_service", "gateway"])
async def test_a_stopping_process_ends_its_live_streams_at_once(
    e2e: E2E, client: httpx.AsyncClient, service: str
) -> None:
    """On SIGTERM a replica's live streams (its own, or those the gateway relays) end with a
    complete response (the browser reconnects to another with ``Last-Event-ID``), not cut off
    when the shutdown's grace period runs out: a cut stream would raise here instead of ending,
    and uvicorn would log that it cut it."""
    account = await register_and_login(client)
    await welcomed(client, account)  # nothing else arrives on the stream but heartbeats
    stack = e2e.stack
    replica = await asyncio.to_thread(stack.start_replica, service, "stopping")
    try:
        await asyncio.to_thread(stack.wait_service_ready, replica)
        direct = httpx.AsyncClient(base_url=stack.service_url(replica), timeout=30)
        async with direct, direct.stream("GET", STREAM, headers=account.headers) as live:
            assert live.status_code == 200
            lines = live.aiter_lines()
            assert (await anext(lines)).startswith(": ping")  # the stream is open
            stack.processes[replica].terminate()
            told = time.monotonic()
            rest = [line async for line in lines]
            ended_after = time.monotonic() - told
        assert all(line == "" or line.startswith(": ping") for line in rest)
        assert ended_after < 4  # not when uvicorn's 5 s grace runs out
        await asyncio.to_thread(stack.processes[replica].wait, 30)
        log = (stack.log_dir / f"{replica}.log").read_text()
        assert f"{service} stopped" in log
        assert "graceful shutdown exceeded" not in log
    finally:
        await asyncio.to_thread(stack.kill, replica)


async def test_one_alert_per_change_naming_the_highest_threshold(
    client: httpx.AsyncClient,
) -> None:
    """A budget set below what is spent alerts once, for its highest threshold; changing its
    amount while still past it alerts nothing; only falling back below re-arms."""
    account = await register_and_login(client)
    overall = await client.post(
        "/api/budgets", headers=account.headers, json={"month": "2026-10", "amount": 10000}
    )
    assert overall.status_code == 201
    for amount in ("200", "25"):
        await spend(client, account, amount)  # 225.00 on 2026-10-12

    async def counted() -> bool:
        status = await client.get("/api/budgets/status?month=2026-10", headers=account.headers)
        return bool(status.json()[0]["spent"] == "225.00")

    assert await eventually(counted, timeout=10)
    # Lowered below what is spent: past 80% and 100% at once.
    lowered = await client.patch(
        f"/api/budgets/{overall.json()['id']}", headers=account.headers, json={"amount": 150}
    )
    food = await client.post(
        "/api/budgets",
        headers=account.headers,
        json={"month": "2026-10", "category": "food", "amount": 100},
    )
    assert (lowered.status_code, food.status_code) == (200, 201)

    async def two_alerts() -> list[dict[str, Any]]:
        found = alerts_in(await feed(client, account))
        return found if len(found) >= 2 else []

    fired = await eventually(two_alerts, timeout=10)
    assert sorted(a["title"] for a in fired) == ["Food budget exceeded", "Overall budget exceeded"]
    food_alert = next(a for a in fired if a["data"]["category"] == "food")
    assert food_alert["data"]["threshold"] == "1"
    assert "You've used 225% of your Food budget" in food_alert["body"]

    # Lowered again, still past both thresholds: nothing new.
    again = await client.patch(
        f"/api/budgets/{food.json()['id']}", headers=account.headers, json={"amount": 90}
    )
    assert again.status_code == 200
    # Raised to 300 (225 is 75%): both re-arm; 20 more is 81.67%, which alerts at 80%.
    raised = await client.patch(
        f"/api/budgets/{food.json()['id']}", headers=account.headers, json={"amount": 300}
    )
    assert raised.status_code == 200
    await spend(client, account, "20")

    async def third() -> list[dict[str, Any]]:
        found = alerts_in(await feed(client, account))
        return found if len(found) >= 3 else []

    after = await eventually(third, timeout=10)
    assert len(after) == 3, [a["title"] for a in after]
    assert after[0]["title"] == "Food budget at 80%"
    assert "82%" in after[0]["body"]


async def test_welcome_promises_email_only_when_mail_is_configured(
    client: httpx.AsyncClient, e2e: E2E
) -> None:
    async def welcome_of(account: Account) -> str:
        async def found() -> list[dict[str, Any]]:
            return [n for n in await feed(client, account) if n["type"] == "welcome"]

        welcome = await eventually(found, timeout=10)
        assert welcome, "no welcome"
        return str(welcome[0]["body"])

    assert "by email" in await welcome_of(await register_and_login(client))
    stack = e2e.stack
    with_smtp = dict(stack.service_env["notification_service"])
    without = {k: v for k, v in with_smtp.items() if not k.startswith("SMTP_")}
    await asyncio.to_thread(stack.restart_service, "notification_service", without)
    try:
        await asyncio.to_thread(stack.wait_service_ready, "notification_service")
        body = await welcome_of(await register_and_login(client))
        assert "by email" not in body
        assert "here and live" in body
    finally:
        await asyncio.to_thread(stack.restart_service, "notification_service", with_smtp)
        await asyncio.to_thread(stack.wait_service_ready, "notification_service")
