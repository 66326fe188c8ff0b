"""Events budget_service consumes: expense.* into a per-expense projection (spending is summed
from it, and alerts checked against it), and user.* for profiles (shared.users)."""

from __future__ import annotations

from budget_service.alerts import evaluate
from budget_service.storage import add_spending, difference, lock_month, purge_user
from shared.budgets import budgets_in_force
from shared.consumer import EventContext, Subscriptions, on
from shared.events import (
    EventType,
    ExpenseCreated,
    ExpenseDeleted,
    ExpensesImported,
    ExpenseSnapshot,
    ExpenseUpdated,
)
from shared.money import to_cents
from shared.mongo import Document
from shared.month import Month
from shared.uow import UnitOfWork
from shared.users import user_directory_handlers


def projected(user_id: str, expense: ExpenseSnapshot) -> Document:
    """What the projection keeps of one expense (its ``_id`` is the expense id)."""
    return {
        "user_id": user_id,
        "version": expense.version,
        "kind": expense.kind,
        "base_amount_cents": to_cents(expense.base_amount),
        "month": Month.key_of(expense.date),
        "category": expense.category,
        "deleted": False,
    }


async def on_expense(expense: ExpenseSnapshot, event: EventContext, uow: UnitOfWork) -> None:
    """Keeps the newest version of each expense. Duplicates and stale versions change nothing,
    so any delivery order leaves the same figures; a move to another month or category
    re-checks both places."""
    user_id = event.user_id
    assert user_id is not None
    projection = uow.db.expense_projection
    current = await projection.find_one({"_id": expense.expense_id}, session=uow.session)
    if current is not None and current["version"] >= expense.version:
        return
    month = Month.key_of(expense.date)
    touched = {(month, expense.category)}
    if current is not None and not current["deleted"]:
        touched.add((current["month"], current["category"]))
    for touched_month in sorted({m for m, _ in touched}):
        await lock_month(uow, user_id, touched_month)
    after = projected(user_id, expense) | {"deleted": event.type is EventType.EXPENSE_DELETED}
    await projection.replace_one(
        {"_id": expense.expense_id}, after, upsert=True, session=uow.session
    )
    await add_spending(uow.db, difference(current, after), uow.session, user_id)
    in_force = {
        m: await budgets_in_force(uow.db, user_id, m, uow.session) for m, _ in sorted(touched)
    }
    if any(budget.get("hard_limit") for budget in in_force[month].values()):
        # The expense is now counted from its event: its hard-limit reservation is done with.
        # (Without a hard limit in force there is none to end; one left from a limit since
        # lifted only expires.)
        await uow.db.reservations.delete_one(
            {"_id": expense.expense_id, "version": {"$lte": expense.version}}, session=uow.session
        )
    for touched_month in sorted({m for m, _ in touched}):
        categories: set[str | None] = {c for m, c in touched if m == touched_month}
        await evaluate(uow, user_id, touched_month, categories, in_force[touched_month])


async def on_expenses_imported(
    batch: ExpensesImported, event: EventContext, uow: UnitOfWork
) -> None:
    """A batch of new expenses from an import: projected together, alerts checked once per
    month touched. Expenses already known (a redelivery, or a later change that came first)
    are left alone, as ``on_expense`` would."""
    user_id = event.user_id
    assert user_id is not None
    projection = uow.db.expense_projection
    ids = [expense.expense_id for expense in batch.expenses]
    known = {
        doc["_id"]
        async for doc in projection.find({"_id": {"$in": ids}}, {"_id": 1}, session=uow.session)
    }
    fresh = [expense for expense in batch.expenses if expense.expense_id not in known]
    if not fresh:
        return
    touched: dict[str, set[str | None]] = {}
    for expense in fresh:
        touched.setdefault(Month.key_of(expense.date), set()).add(expense.category)
    for month in sorted(touched):
        await lock_month(uow, user_id, month)
    added = [{"_id": expense.expense_id, **projected(user_id, expense)} for expense in fresh]
    await projection.insert_many(added, session=uow.session)
    deltas: dict[str, int] = {}
    for doc in added:
        for key, cents in difference(None, doc).items():
            deltas[key] = deltas.get(key, 0) + cents
    await add_spending(uow.db, deltas, uow.session, user_id)
    await uow.db.reservations.delete_many(
        {"_id": {"$in": [expense.expense_id for expense in fresh]}}, session=uow.session
    )
    for month, categories in sorted(touched.items()):
        await evaluate(uow, user_id, month, categories)


async def catch_up(uow: UnitOfWork, user_id: str, expenses: list[ExpenseSnapshot]) -> None:
    """Brings the projection up to date with expenses as expense_service has them now (a
    hard-limit budget's month, budget_service.expense_client): each one newer than what is
    projected replaces it, as its event would; the events, arriving later, change nothing.
    The caller holds the month's lock and checks alerts afterwards."""
    if not expenses:
        return
    projection = uow.db.expense_projection
    current = {
        doc["_id"]: doc
        async for doc in projection.find(
            {"_id": {"$in": [e.expense_id for e in expenses]}}, session=uow.session
        )
    }
    deltas: dict[str, int] = {}
    for expense in expenses:
        before = current.get(expense.expense_id)
        if before is not None and before["version"] >= expense.version:
            continue
        after = projected(user_id, expense)
        await projection.replace_one(
            {"_id": expense.expense_id}, after, upsert=True, session=uow.session
        )
        for key, cents in difference(before, after).items():
            deltas[key] = deltas.get(key, 0) + cents
    await add_spending(uow.db, deltas, uow.session, user_id)


HANDLERS: Subscriptions = [
    *user_directory_handlers(purge_user),
    on(ExpenseCreated, on_expense, replay_safe=True),
    on(ExpenseUpdated, on_expense, replay_safe=True),
    on(ExpenseDeleted, on_expense, replay_safe=True),
    on(ExpensesImported, on_expenses_imported, replay_safe=True),
]
