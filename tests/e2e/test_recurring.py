"""Recurring expenses and income through the gateway: catch-up with month-end dates, editing,
pausing and skipping, and every occurrence exactly once with two expense_service replicas and
a crash in the middle."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import E2E
from tests.e2e.problems import detail
from tests.support import Account, eventually, register_and_login


async def create_rule(client: httpx.AsyncClient, account: Account, **body: Any) -> dict[str, Any]:
    body = {"amount": "100.00", "category": "bills", "frequency": "monthly"} | body
    response = await client.post("/api/recurring", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    rule: dict[str, Any] = response.json()
    return rule


async def occurrences(client: httpx.AsyncClient, account: Account, rule_id: str) -> list[str]:
    """Dates of the rule's expenses, every page."""
    dates: list[str] = []
    offset = 0
    while True:
        page = await client.get(
            "/api/expenses",
            params={"sort": "date", "limit": 200, "offset": offset},
            headers=account.headers,
        )
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        dates += [e["date"] for e in items if e["recurring_id"] == rule_id]
        offset += len(items)
        if not items:
            return dates


async def test_a_past_start_catches_up_month_ends_once(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    today = datetime.now(UTC).date()
    start = date(today.year - 1, 8, 31)
    rule = await create_rule(client, account, start_date=start.isoformat(), description="Rent")
    assert rule["next_date"] == start.isoformat()
    assert rule["upcoming"][:3] == [
        start.isoformat(),
        f"{start.year}-09-30",
        f"{start.year}-10-31",
    ]

    async def caught_up() -> dict[str, Any] | None:
        current = (await client.get(f"/api/recurring/{rule['id']}", headers=account.headers)).json()
        return current if current["next_date"] > today.isoformat() else None

    current = await eventually(caught_up, timeout=10, what="the rule to catch up")
    dates = await occurrences(client, account, rule["id"])
    assert len(dates) == len(set(dates)) == current["created"]
    assert dates[:4] == [
        start.isoformat(),
        f"{start.year}-09-30",
        f"{start.year}-10-31",
        f"{start.year}-11-30",
    ]
    assert f"{start.year + 1}-02-28" in dates or f"{start.year + 1}-02-29" in dates
    assert all(d <= today.isoformat() for d in dates)
    # An occurrence is an ordinary expense: in the month summary like any other.
    month = dates[0][:7]
    summary = await client.get(
        "/api/expenses/summary", params={"month": month}, headers=account.headers
    )
    assert summary.json()["total"] == "100.00"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"frequency": "hourly"}, "frequency"),
        ({"interval": 0}, "interval"),
        ({"end_date": "2026-01-01", "start_date": "2026-02-01"}, "end_date is before start_date"),
        ({"end_date": "2026-03-01", "count": 3}, "not both"),
        ({"category": "no-such"}, "unknown category"),
        ({"amount": "-5"}, "amount"),
        ({"frequency": "daily", "start_date": "1990-01-01"}, "more than 1000 entries at once"),
    ],
)
async def test_bad_rules_get_422_with_a_clear_detail(
    client: httpx.AsyncClient, body: dict[str, Any], words: str
) -> None:
    account = await register_and_login(client)
    full = {
        "amount": "10",
        "category": "bills",
        "frequency": "weekly",
        "start_date": "2026-02-01",
    } | body
    response = await client.post("/api/recurring", json=full, headers=account.headers)
    assert response.status_code == 422, response.text
    assert words in detail(response)
    rules = await client.get("/api/recurring", headers=account.headers)
    assert rules.json()["total"] == 0


async def test_pause_skip_edit_and_delete(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    tomorrow = datetime.now(UTC).date() + timedelta(days=2)  # safe in any time zone
    rule = await create_rule(
        client, account, frequency="weekly", start_date=tomorrow.isoformat(), amount="9.99"
    )
    url = f"/api/recurring/{rule['id']}"
    skipped = await client.patch(url, json={"skip_next": True}, headers=account.headers)
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["next_date"] == (tomorrow + timedelta(weeks=1)).isoformat()
    paused = await client.patch(
        url, json={"paused": True, "amount": "12.50"}, headers={**account.headers}
    )
    assert paused.json()["paused"] is True
    assert paused.json()["amount"] == "12.50"
    stale = await client.patch(
        url, json={"paused": False}, headers={**account.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    listed = await client.get("/api/recurring", headers=account.headers)
    assert [r["id"] for r in listed.json()["items"]] == [rule["id"]]
    other = await register_and_login(client)
    assert (await client.get(url, headers=other.headers)).status_code == 404
    assert (await client.delete(url, headers=other.headers)).status_code == 404
    assert (await client.delete(url, headers=account.headers)).status_code == 204
    assert (await client.get(url, headers=account.headers)).status_code == 404


async def test_deleting_a_rule_keeps_what_it_created(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    start = datetime.now(UTC).date() - timedelta(days=30)
    rule = await create_rule(client, account, frequency="weekly", start_date=start.isoformat())

    async def created() -> list[str]:
        return await occurrences(client, account, rule["id"])

    dates = await eventually(created, timeout=10, what="occurrences")
    await eventually(
        lambda: _created_count(client, account, rule["id"], 5), timeout=10, what="5 weeks"
    )
    await client.delete(f"/api/recurring/{rule['id']}", headers=account.headers)
    assert len(await occurrences(client, account, rule["id"])) == 5 >= len(dates)


async def _created_count(client: httpx.AsyncClient, account: Account, rule_id: str, n: int) -> bool:
    return len(await occurrences(client, account, rule_id)) == n


@pytest.mark.timeout(400)
async def test_two_replicas_and_a_crash_create_each_occurrence_once(
    client: httpx.AsyncClient, e2e: E2E
) -> None:
    """Two more expense_service processes whose clocks run 400 days ahead, both catching up
    the same rules at once (a daily rule makes hundreds of occurrences), one killed in the
    middle and started again: every date once, none missing."""
    account = await register_and_login(client)
    today = datetime.now(UTC).date()
    daily = await create_rule(
        client, account, frequency="daily", start_date=today.isoformat(), amount="1.00"
    )
    monthly = await create_rule(
        client, account, frequency="monthly", start_date=date(today.year, 1, 31).isoformat()
    )
    ahead = datetime.now(UTC) + timedelta(days=400)
    env = {"CLOCK_START": ahead.isoformat(), "RECURRING_HORIZON_SECONDS": "0.5"}
    stack = e2e.stack
    replicas = [
        await asyncio.to_thread(stack.start_replica, "expense_service", suffix, env)
        for suffix in ("ahead-1", "ahead-2")
    ]
    try:
        for replica in replicas:
            await asyncio.to_thread(stack.wait_service_ready, replica)

        async def some_made() -> bool:
            return len(await occurrences(client, account, daily["id"])) > 20

        await eventually(some_made, timeout=20, what="the replicas to start catching up")
        await asyncio.to_thread(stack.kill, replicas[0])
        restarted = await asyncio.to_thread(stack.start_replica, "expense_service", "ahead-1b", env)
        replicas.append(restarted)
        until = ahead.date()

        async def done() -> bool:
            rule = await client.get(f"/api/recurring/{daily['id']}", headers=account.headers)
            return bool(rule.json()["next_date"] > until.isoformat())

        # Killed mid-transaction, a replica leaves that transaction open until the server
        # reaps it (10 s in the test stack; 60 s by default, as mongod's
        # transactionLifetimeLimitSeconds), and it holds the rule's document: no other replica
        # can advance that rule meanwhile, so the catch-up may stand still until then.
        await eventually(done, timeout=240, interval=0.5, what="the daily rule to catch up")
    finally:
        for replica in replicas:
            await asyncio.to_thread(stack.kill, replica)
    days = await occurrences(client, account, daily["id"])
    counted = Counter(days)
    assert [d for d, n in counted.items() if n > 1] == []
    expected = [(today + timedelta(days=n)).isoformat() for n in range((until - today).days + 1)]
    assert sorted(days)[: len(expected)] == expected
    months = await occurrences(client, account, monthly["id"])
    assert len(months) == len(set(months))
    assert f"{today.year}-02-28" in months or f"{today.year}-02-29" in months
