"""Deleting an account leaves nothing of it in any service's database (real stack)."""

from __future__ import annotations

from typing import Any

import httpx
from pymongo import AsyncMongoClient

from tests.e2e.conftest import E2E
from tests.support import eventually, register_and_login

DATABASES = ("users", "expenses", "budgets", "analytics", "notifications")
# What may outlive an account: its profile tombstones (so late events cannot bring it back),
# the outbox and the processed-event records (they expire), token state (refusing its tokens).
KEPT = {"users", "outbox", "processed_events", "token_state", "revoked_tokens"}


async def remnants(mongo: AsyncMongoClient[dict[str, Any]], user_id: str) -> dict[str, int]:
    found = {}
    for name in DATABASES:
        db = mongo[name]
        for collection in await db.list_collection_names():
            if collection in KEPT:
                continue
            query = {"$or": [{"user_id": user_id}, {"_id": user_id}]}
            if count := await db[collection].count_documents(query):
                found[f"{name}.{collection}"] = count
    return found


async def test_every_service_forgets_a_deleted_account(client: httpx.AsyncClient, e2e: E2E) -> None:
    account = await register_and_login(client)
    user_id = account.user["id"]
    headers = account.headers
    budget = {"month": "2026-11", "category": "food", "amount": "10", "repeat": True}
    assert (await client.post("/api/budgets", headers=headers, json=budget)).status_code == 201
    expense = {"amount": "9.00", "category": "food", "date": "2026-11-02", "description": "x"}
    assert (await client.post("/api/expenses", headers=headers, json=expense)).status_code == 201
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(e2e.mongodb_url)
    try:

        async def alerted() -> bool:
            feed = await client.get("/api/notifications", headers=headers)
            return any(n["type"] == "budget.threshold_reached" for n in feed.json()["items"])

        assert await eventually(alerted, what="the 80% alert")
        before = await remnants(mongo, user_id)
        # Not a vacuous check: the account has data in every service that keeps any.
        for name in ("expenses", "budgets", "analytics", "notifications"):
            assert any(key.startswith(f"{name}.") for key in before), (name, before)
        assert (await client.delete("/api/users/me", headers=headers)).status_code == 204

        left = before

        async def forgotten() -> bool:
            nonlocal left
            left = await remnants(mongo, user_id)
            return not left

        try:
            await eventually(forgotten, what="every service purged")
        except AssertionError:
            raise AssertionError(f"left after the deletion: {left}") from None
    finally:
        await mongo.close()
