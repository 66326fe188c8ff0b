"""analytics_service's database ``analytics``: a per-expense projection, rollups per user,
kind and category by month and by day, a projection of budgets, and the user profiles.

Every change to the projection applies the difference it makes (new contribution minus old) to
the rollups in the same transaction. The projection only moves to newer versions, so the rollups
always equal the sum over the projection, whatever order events arrive in.

Both kinds of rollup cell live in one collection, ``rollups`` (``period`` "month" or "day"), so
that an expense's change is one bulk write whatever cells it touches.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, ReplaceOne

from shared.mongo import Database, Document
from shared.month import Month
from shared.uow import UnitOfWork

PERIODS = {"monthly": "month", "daily": "day"}  # a cell id's prefix -> its period


async def create_indexes(db: Database) -> None:
    by_user = ("user_id", ASCENDING)
    await db.expense_projection.create_index([by_user, ("month", ASCENDING)])
    await db.rollups.create_index([by_user, ("period", ASCENDING), ("month", ASCENDING)])
    await db.rollups.create_index([by_user, ("period", ASCENDING), ("date", ASCENDING)])
    await db.budgets.create_index([by_user, ("month", ASCENDING)])
    await upgrade_to_one_rollup_collection(db)


async def upgrade_to_one_rollup_collection(db: Database) -> None:
    """A database from before ``rollups`` kept its cells in ``monthly`` and ``daily``: they are
    copied over (same ids, so two replicas starting together write the same thing) and the old
    collections dropped."""
    for old, period in PERIODS.items():
        cells = [
            ReplaceOne({"_id": doc["_id"]}, doc | {"period": period}, upsert=True)
            async for doc in db[old].find()
        ]
        if cells:
            await db.rollups.bulk_write(cells, ordered=False)
        await db.drop_collection(old)


async def purge_user(uow: UnitOfWork, user_id: str) -> None:
    for name in ("expense_projection", "rollups", "budgets", "alerts"):
        await uow.db[name].delete_many({"user_id": user_id}, session=uow.session)


def contributions(expense: Document) -> dict[str, tuple[dict[str, Any], int]]:
    """The rollup cells one projected expense adds to: cell id → (cell keys, cents)."""
    if expense.get("deleted"):
        return {}
    user, kind, category = expense["user_id"], expense["kind"], expense["category"]
    month, day = Month.key_of(expense["date"]), expense["date"]
    return {
        f"monthly|{user}|{month}|{kind}|{category}": (
            {
                "user_id": user,
                "period": "month",
                "month": month,
                "kind": kind,
                "category": category,
            },
            expense["amount_cents"],
        ),
        f"daily|{user}|{day}|{kind}|{category}": (
            {
                "user_id": user,
                "period": "day",
                "date": day,
                "month": month,
                "kind": kind,
                "category": category,
            },
            expense["amount_cents"],
        ),
    }


def queue_difference(uow: UnitOfWork, before: Document | None, after: Document | None) -> None:
    """What replacing ``before`` by ``after`` in the projection changes in the rollups, queued
    in ``uow``: written with its other writes, in one round trip."""
    old = contributions(before) if before else {}
    new = contributions(after) if after else {}
    cells: dict[str, tuple[dict[str, Any], int, int]] = {}
    for cell in old.keys() | new.keys():
        keys = (new.get(cell) or old[cell])[0]
        delta_cents = (new[cell][1] if cell in new else 0) - (old[cell][1] if cell in old else 0)
        delta_count = (cell in new) - (cell in old)
        cells[cell] = (keys, delta_cents, delta_count)
    _queue_add(uow, cells)


def queue_batch(uow: UnitOfWork, added: Iterable[Document]) -> None:
    """Adds new expenses to the rollups: their contributions summed per cell, one ``$inc`` per
    cell queued in ``uow``."""
    cells: dict[str, tuple[dict[str, Any], int, int]] = {}
    for expense in added:
        for cell, (keys, cents) in contributions(expense).items():
            _, total, count = cells.get(cell, (keys, 0, 0))
            cells[cell] = (keys, total + cents, count + 1)
    _queue_add(uow, cells)


def _queue_add(uow: UnitOfWork, cells: dict[str, tuple[dict[str, Any], int, int]]) -> None:
    """Adds (cents, count) to each cell (created with its keys when new)."""
    for cell, (keys, cents, count) in cells.items():
        if cents != 0 or count != 0:
            uow.queue_update(
                uow.db.rollups,
                {"_id": cell},
                {"$inc": {"total_cents": cents, "count": count}, "$set": keys},
                upsert=True,
            )


def rollup_documents(projection: Iterable[Document]) -> list[Document]:
    """The rollups of a whole projection at once (the rebuild), as the deltas would leave them."""
    cells: dict[str, Document] = {}
    for expense in projection:
        for cell, (keys, cents) in contributions(expense).items():
            doc = cells.setdefault(cell, {"_id": cell, **keys, "total_cents": 0, "count": 0})
            doc["total_cents"] += cents
            doc["count"] += 1
    return list(cells.values())
