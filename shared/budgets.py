"""Which budget applies to a month: the rule budget, expense and analytics services follow;
and the copy of budgets that expense_service and analytics_service keep from budget events.

A budget belongs to a month and a category (``None``: all categories). In a given month, the
budget of that month applies; failing one, the latest earlier budget with ``repeat`` set, so a
repeating budget carries on month after month until another one replaces it, and a month's
own budget overrides it for that month only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict, TypeVar, cast

from pymongo.asynchronous.client_session import AsyncClientSession

from shared.consumer import EventContext, Subscriptions, on
from shared.events import BudgetDeleted, BudgetUpserted
from shared.money import to_cents
from shared.mongo import Database
from shared.uow import UnitOfWork


class Budget(TypedDict, total=False):
    """A budget as stored: budget_service's own (with thresholds and version) or a service's
    copy of it (``deleted`` marks a tombstone there)."""

    _id: str
    user_id: str
    month: str
    category: str | None
    amount_cents: int
    thresholds_bp: list[int]
    repeat: bool
    hard_limit: bool
    version: int
    deleted: bool


# Stored budgets, typed, or plain documents (tests, a service's raw reads).
B = TypeVar("B", Budget, dict[str, Any])


def effective_budgets(budgets: Iterable[B], month: str) -> dict[str | None, B]:
    """Per category (``None`` for overall), the budget in force in ``month``."""
    chosen: dict[str | None, B] = {}
    for budget in sorted(budgets, key=lambda b: b["month"]):
        if budget["month"] == month or (budget["month"] < month and budget.get("repeat")):
            chosen[budget["category"]] = budget  # later months replace earlier ones
    return chosen


def candidates_query(user_id: str, month: str) -> dict[str, Any]:
    """A Mongo filter for every budget that could be in force in ``month``."""
    return {
        "user_id": user_id,
        "$or": [{"month": month}, {"month": {"$lt": month}, "repeat": True}],
    }


async def on_budget_upserted(budget: BudgetUpserted, event: EventContext, uow: UnitOfWork) -> None:
    assert event.user_id is not None
    # An event is committed truth: it also replaces an equal version, which may have been a
    # pushed copy of a change that lost its race (see store_budget_copy).
    await store_budget_copy(uow, event.user_id, budget, committed=True)


async def store_budget_copy(
    uow: UnitOfWork, user_id: str, budget: BudgetUpserted, *, committed: bool
) -> bool:
    """Keeps the newest version of a budget in the copy; returns whether it was stored.

    budget_service pushes every budget change to expense_service (``committed=False``) *before*
    committing it, so that the copy knows of it by the time the client has its answer. Such a
    push only ever adds a newer version, and never takes away a hard limit or a repeat the copy
    already has (it keeps them until an event confirms), because its change may yet fail to
    commit. A copy that says "hard" where budget_service says otherwise is harmless: the copy
    only decides *whether to ask* budget_service, which decides on its own data. The event of
    whatever change does commit that version replaces it (``committed=True`` also replaces an
    equal version).
    """
    current = await uow.db.budgets.find_one({"_id": budget.budget_id}, session=uow.session)
    if current is not None and (
        current.get("deleted")
        or current["version"] > budget.version
        or (current["version"] == budget.version and not committed)
    ):
        return False
    hard_limit, repeat = budget.hard_limit, budget.repeat
    if not committed and current is not None:
        hard_limit = hard_limit or bool(current.get("hard_limit"))
        repeat = repeat or bool(current.get("repeat"))
    await uow.db.budgets.replace_one(
        {"_id": budget.budget_id},
        {
            "user_id": user_id,
            "month": budget.month,
            "category": budget.category,
            "amount_cents": to_cents(budget.amount),
            # Basis points, as budget_service keeps them: its first threshold is "warning".
            "thresholds_bp": [int(t * 10_000) for t in budget.thresholds],
            "repeat": repeat,
            "hard_limit": hard_limit,
            "version": budget.version,
        },
        upsert=True,
        session=uow.session,
    )
    return True


async def on_budget_deleted(budget: BudgetDeleted, event: EventContext, uow: UnitOfWork) -> None:
    # A tombstone: an upsert of this budget arriving late must not bring it back.
    await uow.db.budgets.replace_one(
        {"_id": budget.budget_id},
        {"user_id": event.user_id, "deleted": True},
        upsert=True,
        session=uow.session,
    )


# A service's own copy of budgets, in its collection ``budgets`` (tombstones have "deleted").
BUDGET_COPY_HANDLERS: Subscriptions = [
    on(BudgetUpserted, on_budget_upserted),
    on(BudgetDeleted, on_budget_deleted),
]


def in_force_query(user_id: str, month: str) -> dict[str, Any]:
    """``candidates_query`` on such a copy: tombstones left out."""
    return candidates_query(user_id, month) | {"deleted": {"$ne": True}}


async def budgets_in_force(
    db: Database, user_id: str, month: str, session: AsyncClientSession | None = None
) -> dict[str | None, Budget]:
    """The budgets in force in ``month`` (repeating ones included), by category (None:
    overall), from a service's ``budgets`` collection: budget_service's own, or a copy."""
    found = [
        cast(Budget, doc)
        async for doc in db.budgets.find(in_force_query(user_id, month), session=session)
    ]
    return effective_budgets(found, month)
