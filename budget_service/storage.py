"""budget_service's database ``budgets``: budgets, the per-expense projection that spending is
computed from, alert states, hard-limit reservations, per user-month locks, user profiles."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING

from shared.budgets import candidates_query, effective_budgets
from shared.mongo import Database, Document
from shared.outbox import UnitOfWork

Session = Any


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


async def purge_user(uow: UnitOfWork, user_id: str) -> None:
    for name in ("budgets", "expense_projection", "alert_state", "reservations", "locks"):
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


async def budgets_in_force(
    db: Database, user_id: str, month: str, session: Session = None
) -> dict[str | None, Document]:
    found = [
        doc async for doc in db.budgets.find(candidates_query(user_id, month), session=session)
    ]
    return effective_budgets(found, month)


def spending_filter(user_id: str, month: str, category: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {
        "user_id": user_id,
        "month": month,
        "kind": "expense",
        "deleted": False,
    }
    if category is not None:
        query["category"] = category
    return query


async def spent_cents(
    db: Database, user_id: str, month: str, category: str | None, session: Session = None
) -> int:
    """Spending in ``month`` (one category, or all with None), from expense events. Income
    never counts."""
    return await _total_cents(db, spending_filter(user_id, month, category), session)


async def _total_cents(db: Database, query: dict[str, Any], session: Session) -> int:
    rows = await db.expense_projection.aggregate(
        [{"$match": query}, {"$group": {"_id": None, "total": {"$sum": "$base_amount_cents"}}}],
        session=session,
    )
    async for row in rows:
        return int(row["total"])
    return 0


async def spent_with_reservations(
    db: Database,
    user_id: str,
    month: str,
    category: str | None,
    exclude_expense: str,
    session: Session,
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
    pending = {doc["_id"] for doc in reserved} | {exclude_expense}
    query = spending_filter(user_id, month, category) | {"_id": {"$nin": sorted(pending)}}
    total = await _total_cents(db, query, session)
    total += sum(
        int(doc["amount_cents"])
        for doc in reserved
        if doc["_id"] != exclude_expense and (category is None or doc["category"] == category)
    )
    return total
