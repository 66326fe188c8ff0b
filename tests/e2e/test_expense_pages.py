"""List pages through the gateway, cut by the tally of entries per day (expense_service.counts):
every page of every order is the full sort's page, after concurrent writes, an import, a
recurring catch-up, moves between days and deletions; and an account's tally goes with it."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from tests.e2e.conftest import E2E
from tests.support import Account, eventually, register_and_login


async def every_page(
    client: httpx.AsyncClient, account: Account, limit: int, **params: Any
) -> tuple[list[dict[str, Any]], set[int]]:
    """Every item, page by page, and each page's total (one, unless they disagreed)."""
    items: list[dict[str, Any]] = []
    totals: set[int] = set()
    while True:
        response = await client.get(
            "/api/expenses",
            params={"limit": limit, "offset": len(items), **params},
            headers=account.headers,
        )
        assert response.status_code == 200, response.text
        page = response.json()
        totals.add(page["total"])
        items += page["items"]
        if not page["items"]:
            return items, totals


def by_date(items: list[dict[str, Any]], descending: bool) -> list[str]:
    return [e["id"] for e in sorted(items, key=lambda e: (e["date"], e["id"]), reverse=descending)]


async def test_fifty_concurrent_posts_of_one_user_are_all_recorded_and_listed(
    client: httpx.AsyncClient,
) -> None:
    """Each write adds to its day's tally in its own transaction; the shards keep 50
    simultaneous writes of one user to one day from conflicting past the retry budget."""
    account = await register_and_login(client)
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/expenses",
                json={"amount": "1.00", "category": "food", "date": "2026-05-04"},
                headers=account.headers,
            )
            for _ in range(50)
        )
    )
    assert Counter(r.status_code for r in responses) == {201: 50}
    created = [r.json() for r in responses]
    items, totals = await every_page(client, account, 7)
    assert totals == {50}
    assert [e["id"] for e in items] == by_date(created, descending=True)
    summary = await client.get(
        "/api/expenses/summary", params={"month": "2026-05"}, headers=account.headers
    )
    assert summary.json()["count"] == 50
    assert summary.json()["total"] == "50.00"


async def test_pages_follow_imports_catch_ups_moves_and_deletions(
    client: httpx.AsyncClient,
) -> None:
    account = await register_and_login(client)
    rows = ["date,amount,category,description"] + [
        f"2026-0{1 + n % 3}-{1 + n % 5:02d},{n + 1}.00,food,row {n}" for n in range(120)
    ]
    imported = await client.post(
        "/api/expenses/import",
        content="\n".join(rows) + "\n",
        headers={**account.headers, "Content-Type": "text/csv"},
    )
    assert imported.json()["imported"] == 120
    start = datetime.now(UTC).date() - timedelta(days=40)
    rule = await client.post(
        "/api/recurring",
        json={
            "amount": "3.00",
            "category": "bills",
            "frequency": "weekly",
            "start_date": start.isoformat(),
        },
        headers=account.headers,
    )
    assert rule.status_code == 201, rule.text
    today = datetime.now(UTC).date()
    due = len([n for n in range(7) if start + timedelta(weeks=n) <= today])

    async def caught_up() -> list[dict[str, Any]] | None:
        items, _ = await every_page(client, account, 200)
        return items if len(items) == 120 + due else None

    items = await eventually(caught_up, timeout=15, what="the rule's occurrences listed")
    # Moves between days, months and years, and deletions.
    for n, expense in enumerate(items[:30]):
        url = f"/api/expenses/{expense['id']}"
        if n % 3 == 0:
            assert (await client.delete(url, headers=account.headers)).status_code == 204
        else:
            moved = {"date": f"{2024 + n % 3}-12-{1 + n % 28:02d}"}
            assert (await client.patch(url, json=moved, headers=account.headers)).status_code == 200
    everything, _ = await every_page(client, account, 200, sort="amount")  # not by the tally
    assert len(everything) == 120 + due - 10
    for limit in (1, 9, 50):
        for sort, descending in (("-date", True), ("date", False)):
            paged, totals = await every_page(client, account, limit, sort=sort)
            assert totals == {len(everything)}
            assert [e["id"] for e in paged] == by_date(everything, descending)
    in_march, totals = await every_page(client, account, 4, month="2026-03")
    assert totals == {len([e for e in everything if e["date"].startswith("2026-03")])}
    assert [e["id"] for e in in_march] == by_date(
        [e for e in everything if e["date"].startswith("2026-03")], True
    )
    past_the_end = await client.get(
        "/api/expenses", params={"offset": 10_000}, headers=account.headers
    )
    assert past_the_end.json()["items"] == []
    assert past_the_end.json()["total"] == len(everything)


async def test_an_accounts_tally_is_purged_with_it(client: httpx.AsyncClient, e2e: E2E) -> None:
    account = await register_and_login(client)
    body = {"amount": "2.00", "category": "food", "date": "2026-02-03"}
    assert (
        await client.post("/api/expenses", json=body, headers=account.headers)
    ).status_code == 201
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(e2e.mongodb_url)
    try:
        tally = mongo["expenses"]["entry_counts"]
        user = {"user_id": account.user["id"]}
        assert await tally.count_documents(user) >= 2  # the mark and a shard
        assert (await client.delete("/api/users/me", headers=account.headers)).status_code == 204

        async def purged() -> bool:
            return await tally.count_documents(user) == 0

        assert await eventually(purged, timeout=10, what="the tally purged")
    finally:
        await mongo.close()
