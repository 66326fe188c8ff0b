"""budget_service's database ``budgets``: budgets, the per-expense projection that spending is
computed from, running totals of it per user, month and category (``spending``), alert states,
hard-limit reservations, per user-month locks, user profiles.

Every change to the projection adds the difference it makes to ``spending`` in the same
transaction (as analytics_service does with its rollups), and the projection only moves to
newer versions, so the totals always equal the sum over the projection, in any delivery order;
reading a month's spending is then a read of a few small documents rather than an aggregate
over every expense of the month (which grew with the month: 50,000 imported rows made each
alert check scan them all).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.mongo import Database, Document
from shared.uow import UnitOfWork


async def create_indexes(db: Database) -> None:
    by_user = ("user_id", ASCENDING)
    await db.budgets.create_index(
        [by_user, ("month", ASCENDING), ("category", ASCENDING)], unique=True
    )
    await db.expense_projection.create_index(
        [by_user, ("month", ASCENDING), ("category", ASCENDING)]
    )
    await db.alert_state.create_index("budget_id")
    await db.reservations.create_index([by_user, ("month", ASCENDING)])
    await db.reservations.create_index("expires_at", expireAfterSeconds=0)
    await db.locks.create_index("user_id")
    await db.spending.create_index([by_user, ("month", ASCENDING)])
    if await db.spending.find_one() is None and await db.expense_projection.find_one():
        await rebuild_spending(db)  # a database from before the running totals


async def purge_user(uow: UnitOfWork, user_id: str) -> None:
    for name in (
        "budgets",
        "expense_projection",
        "spending",
        "alert_state",
        "reservations",
        "locks",
    ):
        await uow.db[name].delete_many({"user_id": user_id}, session=uow.session)


async def lock_month(uow: UnitOfWork, user_id: str, month: str) -> None:
    """Every transaction that reads or changes a user's month of spending writes this one
    document first, so two of them conflict (and one retries) instead of both deciding on a
    snapshot that misses the other: no lost alert, no double admission past a hard limit."""
    await uow.db.locks.update_one(
        {"_id": f"{user_id}:{month}"},
        {"$inc": {"writes": 1}, "$set": {"user_id": user_id}},
        upsert=True,
        session=uow.session,
    )


def spending_key(user_id: str, month: str, category: str) -> str:
    return f"{user_id}:{month}:{category}"


def contribution(expense: Document | None) -> tuple[str, int] | None:
    """What one projected expense adds to ``spending``: (cell, cents), or nothing (income, a
    deleted expense)."""
    if expense is None or expense["deleted"] or expense["kind"] != "expense":
        return None
    key = spending_key(expense["user_id"], expense["month"], expense["category"])
    return key, int(expense["base_amount_cents"])


async def add_spending(
    db: Database, deltas: dict[str, int], session: AsyncClientSession | None, user_id: str
) -> None:
    """Adds cents to cells (``spending_key``); one bulk write."""
    updates = []
    for key, cents in deltas.items():
        if cents == 0:
            continue
        _, month, category = key.split(":", 2)
        updates.append(
            UpdateOne(
                {"_id": key},
                {
                    "$inc": {"total_cents": cents},
                    "$set": {"user_id": user_id, "month": month, "category": category},
                },
                upsert=True,
            )
        )
    if updates:
        await db.spending.bulk_write(updates, ordered=False, session=session)


def difference(before: Document | None, after: Document | None) -> dict[str, int]:
    deltas: dict[str, int] = {}
    for sign, expense in ((-1, before), (1, after)):
        found = contribution(expense)
        if found is not None:
            deltas[found[0]] = deltas.get(found[0], 0) + sign * found[1]
    return deltas


async def rebuild_spending(db: Database) -> None:
    rows = await db.expense_projection.aggregate(
        [
            {"$match": {"kind": "expense", "deleted": False}},
            {
                "$group": {
                    "_id": {"user_id": "$user_id", "month": "$month", "category": "$category"},
                    "total": {"$sum": "$base_amount_cents"},
                }
            },
        ]
    )
    async for row in rows:
        cell = row["_id"]
        await db.spending.replace_one(
            {"_id": spending_key(cell["user_id"], cell["month"], cell["category"])},
            {**cell, "total_cents": int(row["total"])},
            upsert=True,
        )


async def spent_cents(
    db: Database,
    user_id: str,
    month: str,
    category: str | None,
    session: AsyncClientSession | None = None,
) -> int:
    """Spending in ``month`` (one category, or all with None), from expense events. Income
    never counts."""
    query: dict[str, Any] = {"user_id": user_id, "month": month}
    if category is not None:
        query["_id"] = spending_key(user_id, month, category)
    total = 0
    async for doc in db.spending.find(query, {"total_cents": 1}, session=session):
        total += int(doc["total_cents"])
    return total


async def spent_with_reservations(
    db: Database,
    user_id: str,
    month: str,
    category: str | None,
    exclude_expense: str,
    session: AsyncClientSession | None,
) -> int:
    """Spending as it will be once every admitted expense has arrived: the projection, with each
    reserved expense counted at its reserved amount (and ``exclude_expense`` left out)."""
    now = datetime.now(UTC)
    reserved = [
        doc
        async for doc in db.reservations.find(
            {"user_id": user_id, "month": month, "expires_at": {"$gt": now}}, session=session
        )
    ]
    pending = sorted({doc["_id"] for doc in reserved} | {exclude_expense})
    total = await spent_cents(db, user_id, month, category, session)
    # Pending expenses already in the projection count at their reserved amount instead.
    async for doc in db.expense_projection.find({"_id": {"$in": pending}}, session=session):
        found = contribution(doc)
        if (
            found is not None
            and doc["month"] == month
            and (category is None or doc["category"] == category)
        ):
            total -= found[1]
    total += sum(
        int(doc["amount_cents"])
        for doc in reserved
        if doc["_id"] != exclude_expense and (category is None or doc["category"] == category)
    )
    return total
