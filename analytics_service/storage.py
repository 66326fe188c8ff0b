"""analytics_service's database ``analytics``: a per-expense projection, rollups per user,
month, kind and category and per day, a projection of budgets, and the user profiles.

Every change to the projection applies the difference it makes (new contribution minus old) to
the rollups in the same transaction. The projection only moves to newer versions, so the rollups
always equal the sum over the projection, whatever order events arrive in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.mongo import Database, Document
from shared.month import Month
from shared.uow import UnitOfWork

ROLLUPS = ("monthly", "daily")


async def create_indexes(db: Database) -> None:
    by_user = ("user_id", ASCENDING)
    await db.expense_projection.create_index([by_user, ("month", ASCENDING)])
    await db.monthly.create_index([by_user, ("month", ASCENDING)])
    await db.daily.create_index([by_user, ("date", ASCENDING)])
    await db.budgets.create_index([by_user, ("month", ASCENDING)])


async def purge_user(uow: UnitOfWork, user_id: str) -> None:
    for name in ("expense_projection", *ROLLUPS, "budgets", "alerts"):
        await uow.db[name].delete_many({"user_id": user_id}, session=uow.session)


def contributions(expense: Document) -> dict[str, tuple[dict[str, Any], int]]:
    """The rollup cells one projected expense adds to: cell id → (cell keys, cents)."""
    if expense.get("deleted"):
        return {}
    user, kind, category = expense["user_id"], expense["kind"], expense["category"]
    month, day = Month.key_of(expense["date"]), expense["date"]
    return {
        f"monthly|{user}|{month}|{kind}|{category}": (
            {"user_id": user, "month": month, "kind": kind, "category": category},
            expense["amount_cents"],
        ),
        f"daily|{user}|{day}|{kind}|{category}": (
            {"user_id": user, "date": day, "month": month, "kind": kind, "category": category},
            expense["amount_cents"],
        ),
    }


async def apply_difference(
    db: Database,
    before: Document | None,
    after: Document | None,
    session: AsyncClientSession | None,
) -> None:
    old = contributions(before) if before else {}
    new = contributions(after) if after else {}
    for cell in old.keys() | new.keys():
        keys = (new.get(cell) or old[cell])[0]
        delta_cents = (new[cell][1] if cell in new else 0) - (old[cell][1] if cell in old else 0)
        delta_count = (cell in new) - (cell in old)
        if delta_cents == 0 and delta_count == 0:
            continue
        collection, _, _ = cell.partition("|")
        await db[collection].update_one(
            {"_id": cell},
            {"$inc": {"total_cents": delta_cents, "count": delta_count}, "$set": keys},
            upsert=True,
            session=session,
        )


async def apply_batch(
    db: Database, added: Iterable[Document], session: AsyncClientSession | None
) -> None:
    """Adds new expenses to the rollups: their contributions summed per cell, then one bulk
    write of one ``$inc`` per cell."""
    cells: dict[str, tuple[dict[str, Any], int, int]] = {}
    for expense in added:
        for cell, (keys, cents) in contributions(expense).items():
            _, total, count = cells.get(cell, (keys, 0, 0))
            cells[cell] = (keys, total + cents, count + 1)
    if not cells:
        return
    by_collection: dict[str, list[UpdateOne]] = {}
    for cell, (keys, total, count) in cells.items():
        by_collection.setdefault(cell.partition("|")[0], []).append(
            UpdateOne(
                {"_id": cell},
                {"$inc": {"total_cents": total, "count": count}, "$set": keys},
                upsert=True,
            )
        )
    for collection, updates in by_collection.items():
        await db[collection].bulk_write(updates, ordered=False, session=session)


def rollup_documents(projection: Iterable[Document]) -> dict[str, list[Document]]:
    """The rollups of a whole projection at once (the rebuild), as the deltas would leave them."""
    cells: dict[str, Document] = {}
    for expense in projection:
        for cell, (keys, cents) in contributions(expense).items():
            doc = cells.setdefault(cell, {"_id": cell, **keys, "total_cents": 0, "count": 0})
            doc["total_cents"] += cents
            doc["count"] += 1
    grouped: dict[str, list[Document]] = {name: [] for name in ROLLUPS}
    for cell, doc in cells.items():
        grouped[cell.partition("|")[0]].append(doc)
    return grouped
