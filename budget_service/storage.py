"""budget_service's database ``budgets``: budgets, the per-expense projection that spending is
computed from, one document per user and month (``months``), hard-limit reservations, user
profiles.

A user's month document holds everything a decision about that month needs, so that an expense
event reads and changes it in one round trip:

- ``spent``: running totals of the projection per category (expenses only, deleted ones left
  out), keyed by the category's percent-encoded name (a category may contain a dot, which a
  field name may not). Every change to the projection adds the difference it makes here in the
  same transaction, and the projection only moves to newer versions, so the totals equal the
  sum over the projection in any delivery order; a month's spending is one small read, not an
  aggregate over every expense of the month (which grew with the month: 50,000 imported rows
  made each alert check scan them all).
- ``alerts``: per budget id, the thresholds (basis points, as strings) that stand crossed this
  month, each with the spending that crossed it (budget_service.alerts).
- ``budgets``: the budgets in force in the month (shared.budgets decides which), copied there
  by the first expense event that needs them, and removed by any change to a budget of this
  month or an earlier one (``budgets_changed``), so an expense event does not read the budgets
  collection. The copy and a budget change both write the user's ``budget_changes`` document,
  so neither can pass the other unseen (a copy made from a snapshot that misses a concurrent
  change would otherwise survive it: the change's removal cannot see a month document that
  is being created).
- ``writes``: every transaction that reads or changes the month increments it first (a
  ``find_one_and_update`` that also returns the document), so two of them conflict and one
  retries, instead of both deciding on a snapshot that misses the other: no lost alert, no
  double admission past a hard limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.budgets import Budget, budgets_in_force
from shared.mongo import Database, Document
from shared.uow import UnitOfWork

# Month -> category -> cents: what a change adds to the months' running totals.
Deltas = dict[str, dict[str, int]]


async def create_indexes(db: Database) -> None:
    by_user = ("user_id", ASCENDING)
    await db.budgets.create_index(
        [by_user, ("month", ASCENDING), ("category", ASCENDING)], unique=True
    )
    await db.expense_projection.create_index(
        [by_user, ("month", ASCENDING), ("category", ASCENDING)]
    )
    await db.reservations.create_index([by_user, ("month", ASCENDING)])
    await db.reservations.create_index("expires_at", expireAfterSeconds=0)
    await db.months.create_index([("user_id", ASCENDING), ("month", ASCENDING)])
    await upgrade_to_months(db)


async def purge_user(uow: UnitOfWork, user_id: str) -> None:
    for name in ("budgets", "expense_projection", "months", "reservations"):
        await uow.db[name].delete_many({"user_id": user_id}, session=uow.session)
    await uow.db.budget_changes.delete_one({"_id": user_id}, session=uow.session)


def month_id(user_id: str, month: str) -> str:
    return f"{user_id}:{month}"


def spent_field(category: str) -> str:
    """A category's name as a field name: a dot (which would make a path) and a leading ``$``
    percent-encoded, and ``%`` itself, so that two names never share a field."""
    return category.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


async def lock_month(
    uow: UnitOfWork, user_id: str, month: str, deltas: Mapping[str, int] | None = None
) -> Document:
    """Takes the month (see the module's ``writes``), adds ``deltas`` (category -> cents) to its
    spending, and returns the month as it now stands; one round trip. Writes queued on ``uow``
    are not in it yet (budgets_of's copy, evaluate's alert marks): once one is queued on a
    month, do not take that month again in the same unit of work, nor write it directly (the
    queued write would land after)."""
    increments = {"writes": 1} | {
        f"spent.{spent_field(category)}": cents
        for category, cents in (deltas or {}).items()
        if cents
    }
    doc: Document | None = await uow.db.months.find_one_and_update(
        {"_id": month_id(user_id, month)},
        {"$inc": increments, "$setOnInsert": {"user_id": user_id, "month": month}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
        session=uow.session,
    )
    assert doc is not None  # upserted
    return doc


KEPT = (
    "_id",
    "user_id",
    "month",
    "category",
    "amount_cents",
    "thresholds_bp",
    "repeat",
    "hard_limit",
)


async def budgets_of(uow: UnitOfWork, month: Document) -> dict[str | None, Budget]:
    """The budgets in force in a month taken with lock_month: its copy, or, when it has none
    (first use, or a budget changed since), read and copied onto it."""
    copied: list[Budget] | None = month.get("budgets")
    if copied is not None:
        return {budget["category"]: budget for budget in copied}
    user_id = month["user_id"]
    in_force = await budgets_in_force(uow.db, user_id, month["month"], uow.session)
    _touch_budget_changes(uow, user_id)
    kept = [
        {key: value for key, value in budget.items() if key in KEPT} for budget in in_force.values()
    ]
    uow.queue_update(uow.db.months, {"_id": month["_id"]}, {"$set": {"budgets": kept}})
    return in_force


async def budgets_changed(uow: UnitOfWork, user_id: str, from_month: str) -> None:
    """In a budget change's transaction: the copies of the budgets in force in ``from_month``
    and later months are removed (a budget applies in its month and, repeating, after)."""
    _touch_budget_changes(uow, user_id)
    await uow.db.months.update_many(
        {"user_id": user_id, "month": {"$gte": from_month}, "budgets": {"$exists": True}},
        {"$unset": {"budgets": ""}},
        session=uow.session,
    )


def _touch_budget_changes(uow: UnitOfWork, user_id: str) -> None:
    uow.queue_update(uow.db.budget_changes, {"_id": user_id}, {"$inc": {"changes": 1}}, upsert=True)


async def read_month(
    db: Database, user_id: str, month: str, session: AsyncClientSession | None = None
) -> Document | None:
    """A month as it stands, without taking it (status pages)."""
    return await db.months.find_one({"_id": month_id(user_id, month)}, session=session)


def spent_in(month: Document | None, category: str | None) -> int:
    """Spending in a month (one category, or all with None). Income never counts."""
    spent: dict[str, int] = (month or {}).get("spent", {})
    if category is None:
        return sum(int(cents) for cents in spent.values())
    return int(spent.get(spent_field(category), 0))


def contribution(expense: Document | None) -> tuple[str, str, int] | None:
    """What one projected expense adds to spending: (month, category, cents), or nothing
    (income, a deleted expense)."""
    if expense is None or expense["deleted"] or expense["kind"] != "expense":
        return None
    return expense["month"], expense["category"], int(expense["base_amount_cents"])


def difference(
    before: Document | None, after: Document | None, into: Deltas | None = None
) -> Deltas:
    """What replacing ``before`` by ``after`` in the projection adds to spending (added to
    ``into`` when given)."""
    deltas: Deltas = {} if into is None else into
    for sign, expense in ((-1, before), (1, after)):
        found = contribution(expense)
        if found is not None:
            month, category, cents = found
            cells = deltas.setdefault(month, {})
            cells[category] = cells.get(category, 0) + sign * cents
    return deltas


async def upgrade_to_months(db: Database) -> None:
    """A database from before the month documents (running totals in ``spending``, alert states
    in ``alert_state``, locks in ``locks``): the totals are summed again from the projection,
    the alert states carried over, and the old collections dropped. Every write sets a value,
    so two replicas starting together write the same thing."""
    if await db.months.find_one() is not None or await db.expense_projection.find_one() is None:
        return
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
    updates = [
        UpdateOne(
            {"_id": month_id(row["_id"]["user_id"], row["_id"]["month"])},
            {
                "$set": {
                    "user_id": row["_id"]["user_id"],
                    "month": row["_id"]["month"],
                    f"spent.{spent_field(row['_id']['category'])}": int(row["total"]),
                }
            },
            upsert=True,
        )
        async for row in rows
    ]
    updates += [
        UpdateOne(
            {"_id": month_id(alert["user_id"], alert["month"])},
            {
                "$set": {
                    "user_id": alert["user_id"],
                    "month": alert["month"],
                    f"alerts.{alert['budget_id']}.{alert['threshold_bp']}": alert["spent_cents"],
                }
            },
            upsert=True,
        )
        async for alert in db.alert_state.find()
    ]
    if updates:
        await db.months.bulk_write(updates, ordered=False)
    for old in ("spending", "alert_state", "locks"):
        await db.drop_collection(old)


async def spent_with_reservations(
    db: Database,
    month: Document,
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
            {"user_id": month["user_id"], "month": month["month"], "expires_at": {"$gt": now}},
            session=session,
        )
    ]
    pending = sorted({doc["_id"] for doc in reserved} | {exclude_expense})
    total = spent_in(month, category)
    # Pending expenses already in the projection count at their reserved amount instead.
    async for doc in db.expense_projection.find({"_id": {"$in": pending}}, session=session):
        found = contribution(doc)
        if (
            found is not None
            and found[0] == month["month"]
            and (category is None or found[1] == category)
        ):
            total -= found[2]
    total += sum(
        int(doc["amount_cents"])
        for doc in reserved
        if doc["_id"] != exclude_expense and (category is None or doc["category"] == category)
    )
    return total
