"""expense.* events: one per change, never a change without its event, even across a crash."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from expense_service.storage import ExpenseFilter, sort_spec
from tests.e2e.conftest import E2E
from tests.support import (
    Account,
    before_marker,
    event_tap,
    eventually,
    outbox_states,
    register_and_login,
)

MARKER_DESCRIPTION = "marker: the events before this one are all in"


async def create_marker(client: httpx.AsyncClient, account: Account) -> str:
    """One more expense, whose event comes after those under test (see support.before_marker)."""
    response = await client.post(
        "/api/expenses",
        headers=account.headers,
        json={
            "amount": "0.01",
            "category": "other",
            "date": "2026-01-01",
            "description": MARKER_DESCRIPTION,
        },
    )
    assert response.status_code == 201
    expense_id: str = response.json()["id"]
    return expense_id


async def delete_marker(client: httpx.AsyncClient, account: Account, expense_id: str) -> None:
    response = await client.delete(f"/api/expenses/{expense_id}", headers=account.headers)
    assert response.status_code == 204


def is_marker(event: dict[str, Any]) -> bool:
    return bool(event["data"].get("description") == MARKER_DESCRIPTION)


def of_user(events: list[dict[str, Any]], account: Account) -> list[dict[str, Any]]:
    """This test's events only: the exchange is shared by every test of the session."""
    return [event for event in events if event["user_id"] == account.user["id"]]


async def test_200_concurrent_creates_emit_200_events(client: httpx.AsyncClient, e2e: E2E) -> None:
    account = await register_and_login(client)
    async with event_tap(e2e.amqp_url, e2e.names.exchange, "expense.*") as tap:
        bodies: list[dict[str, Any]] = [
            {
                "amount": f"{i + 1}.{i % 100:02d}",
                "category": ("food", "travel")[i % 2],
                "date": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "tags": [f"n{i}"],
            }
            for i in range(200)
        ]
        responses = await asyncio.gather(
            *(client.post("/api/expenses", json=body, headers=account.headers) for body in bodies)
        )
        assert [r.status_code for r in responses] == [201] * 200

        received = await before_marker(tap, lambda: create_marker(client, account), is_marker)

    events = of_user(received, account)
    assert len(events) == 200
    assert {e["type"] for e in events} == {"expense.created"}
    assert len({e["id"] for e in events}) == 200
    by_expense = {e["data"]["expense_id"]: e for e in events}
    for response, body in zip(responses, bodies, strict=True):
        expense = response.json()
        event = by_expense[expense["id"]]
        assert event["user_id"] == account.user["id"]
        assert event["producer"] == "expense_service"
        data = event["data"]
        assert Decimal(data["amount"]) == Decimal(body["amount"])
        assert data["base_amount"] == expense["base_amount"]
        assert (data["category"], data["date"], data["tags"], data["kind"], data["version"]) == (
            body["category"],
            body["date"],
            body["tags"],
            "expense",
            1,
        )
        assert data["currency"] == "USD"


async def test_update_and_delete_each_emit_one_event(client: httpx.AsyncClient, e2e: E2E) -> None:
    account = await register_and_login(client)
    created = (
        await client.post(
            "/api/expenses",
            headers=account.headers,
            json={"amount": "10.00", "category": "food", "date": "2026-11-30"},
        )
    ).json()
    marker_id = await create_marker(client, account)
    async with event_tap(
        e2e.amqp_url, e2e.names.exchange, "expense.updated", "expense.deleted"
    ) as tap:
        patched = await client.patch(
            f"/api/expenses/{created['id']}",
            headers=account.headers,
            json={"amount": "15.00", "date": "2026-12-01"},
        )
        assert patched.status_code == 200
        unchanged = await client.patch(
            f"/api/expenses/{created['id']}", headers=account.headers, json={"amount": "15.00"}
        )
        assert unchanged.json()["version"] == 2  # nothing changed: no new version, no event
        deleted = await client.delete(f"/api/expenses/{created['id']}", headers=account.headers)
        assert deleted.status_code == 204

        received = await before_marker(
            tap, lambda: delete_marker(client, account, marker_id), is_marker
        )

    updated, removed = sorted(of_user(received, account), key=lambda e: e["data"]["version"])
    assert updated["type"] == "expense.updated"
    assert (updated["data"]["amount"], updated["data"]["date"], updated["data"]["version"]) == (
        "15.00",
        "2026-12-01",
        2,
    )
    previous = updated["data"]["previous"]
    assert (previous["amount"], previous["date"], previous["version"]) == ("10.00", "2026-11-30", 1)
    assert removed["type"] == "expense.deleted"
    assert (removed["data"]["expense_id"], removed["data"]["version"]) == (created["id"], 3)
    assert removed["data"]["amount"] == "15.00"


async def test_event_survives_a_crash_between_write_and_publish(
    client: httpx.AsyncClient, e2e: E2E
) -> None:
    stack = e2e.stack
    account = await register_and_login(client)

    async with event_tap(e2e.amqp_url, e2e.names.exchange, "expense.created") as tap:
        await asyncio.to_thread(
            stack.restart_service, "expense_service", {"OUTBOX_RELAY_ENABLED": "false"}
        )
        await asyncio.to_thread(stack.wait_service_ready, "expense_service")
        created = await client.post(
            "/api/expenses",
            headers=account.headers,
            json={"amount": "3.21", "category": "food", "date": "2026-11-02"},
        )
        assert created.status_code == 201

        async def committed_unsent() -> bool:
            states = await outbox_states(e2e.mongodb_url, "expenses", "expense.created")
            return states.count("pending") == 1

        # The fact: the event is in the outbox, committed with the expense, and not sent.
        assert await eventually(committed_unsent)
        assert of_user(tap.bodies(), account) == []
        await asyncio.to_thread(stack.restart_service, "expense_service", {})  # SIGKILL, then up
        await asyncio.to_thread(stack.wait_service_ready, "expense_service")

        async def delivered() -> bool:
            return bool(of_user(tap.bodies(), account))

        assert await eventually(delivered, timeout=10)
        received = await before_marker(tap, lambda: create_marker(client, account), is_marker)
    [event] = of_user(received, account)
    assert event["data"]["expense_id"] == created.json()["id"]


async def test_user_deleted_purges_the_ledger(client: httpx.AsyncClient, e2e: E2E) -> None:
    account = await register_and_login(client)
    headers = {**account.headers, "Idempotency-Key": "k1"}
    await client.post(
        "/api/expenses",
        headers=headers,
        json={"amount": "1.00", "category": "food", "date": "2026-11-02"},
    )
    await client.post("/api/categories", headers=account.headers, json={"name": "pets"})
    await client.post(
        "/api/expenses/import",
        headers={**account.headers, "Content-Type": "text/csv"},
        content=b"date,amount\n2026-11-03,2.00\n",
    )
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(e2e.mongodb_url)
    db = mongo["expenses"]
    user = {"user_id": account.user["id"]}
    collections = ("expenses", "categories", "idempotency_keys", "import_fingerprints")
    try:
        for name in collections:
            assert await db[name].count_documents(user) >= 1, name
        assert (await client.delete("/api/users/me", headers=account.headers)).status_code == 204

        async def purged() -> bool:
            counts = [await db[name].count_documents(user) for name in collections]
            return not any(counts)

        assert await eventually(purged, timeout=5)
        profile = await db.users.find_one({"_id": account.user["id"]})
        assert profile is not None
        assert profile["deleted"] is True
    finally:
        await mongo.close()


async def test_list_by_user_and_date_uses_an_index(e2e: E2E) -> None:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(e2e.mongodb_url)
    try:
        expenses = mongo["expenses"].expenses
        for filters in (
            ExpenseFilter(month="2026-11"),
            ExpenseFilter(),
            ExpenseFilter(category="food"),
            ExpenseFilter(tag="x"),
        ):
            cursor = expenses.find(filters.query("some-user")).sort(sort_spec_default())
            plan = (await cursor.explain())["queryPlanner"]["winningPlan"]
            assert "IXSCAN" in str(plan), filters
            assert "COLLSCAN" not in str(plan), filters
    finally:
        await mongo.close()


def sort_spec_default() -> list[tuple[str, int]]:
    from expense_service.models import SortOrder

    return sort_spec(SortOrder.DATE_DESC)
