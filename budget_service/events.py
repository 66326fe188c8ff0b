"""Events budget_service consumes: expense.* into a per-expense projection (whose differences
keep each month's spending, against which alerts are checked), and user.* for profiles
(shared.users)."""

from __future__ import annotations

from budget_service.alerts import evaluate
from budget_service.storage import Deltas, budgets_of, difference, lock_month, purge_user
from shared.consumer import EventContext, Subscriptions, on, replace_if_newer
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


def projected(user_id: str, expense: ExpenseSnapshot, *, deleted: bool = False) -> Document:
    """What the projection keeps of one expense (its ``_id`` is the expense id)."""
    return {
        "_id": expense.expense_id,
        "user_id": user_id,
        "version": expense.version,
        "kind": expense.kind,
        "base_amount_cents": to_cents(expense.base_amount),
        "month": Month.key_of(expense.date),
        "category": expense.category,
        "deleted": deleted,
    }


async def on_expense(expense: ExpenseSnapshot, event: EventContext, uow: UnitOfWork) -> None:
    """Keeps the newest version of each expense. Duplicates and stale versions change nothing
    (replace_if_newer rolls them back), so any delivery order leaves the same figures; a move to
    another month or category re-checks both places. Two round trips for a new expense: the
    projection, and the month (its totals, alert states and budgets in force come back with
    the write)."""
    user_id = event.user_id
    assert user_id is not None
    after = projected(user_id, expense, deleted=event.type is EventType.EXPENSE_DELETED)
    before = await replace_if_newer(uow.db.expense_projection, after, uow)
    touched = {(after["month"], after["category"])}
    if before is not None and not before["deleted"]:
        touched.add((before["month"], before["category"]))
    deltas = difference(before, after)
    for month in sorted({m for m, _ in touched}):
        state = await lock_month(uow, user_id, month, deltas.get(month))
        in_force = await budgets_of(uow, state)
        if month == after["month"] and any(b.get("hard_limit") for b in in_force.values()):
            # The expense is now counted from its event: its hard-limit reservation is done
            # with. (Without a hard limit in force there is none to end; one left from a limit
            # since lifted only expires.)
            uow.queue_delete(
                uow.db.reservations,
                {"_id": expense.expense_id, "version": {"$lte": expense.version}},
            )
        await evaluate(uow, state, {c for m, c in touched if m == month}, in_force)


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
    added = [projected(user_id, e) for e in batch.expenses if e.expense_id not in known]
    if not added:
        return
    await projection.insert_many(added, session=uow.session)
    deltas: Deltas = {}
    for doc in added:
        difference(None, doc, into=deltas)
    await uow.db.reservations.delete_many(
        {"_id": {"$in": [doc["_id"] for doc in added]}}, session=uow.session
    )
    for month in sorted({doc["month"] for doc in added}):
        state = await lock_month(uow, user_id, month, deltas.get(month))
        categories = {doc["category"] for doc in added if doc["month"] == month}
        await evaluate(uow, state, categories, await budgets_of(uow, state))


async def catch_up(uow: UnitOfWork, user_id: str, expenses: list[ExpenseSnapshot]) -> None:
    """Brings the projection up to date with expenses as expense_service has them now (a
    hard-limit budget's month, budget_service.expense_client): each one newer than what is
    projected replaces it, as its event would; the events, arriving later, change nothing.
    The caller has taken the month and checks alerts afterwards."""
    if not expenses:
        return
    projection = uow.db.expense_projection
    current = {
        doc["_id"]: doc
        async for doc in projection.find(
            {"_id": {"$in": [e.expense_id for e in expenses]}}, session=uow.session
        )
    }
    deltas: Deltas = {}
    for expense in expenses:
        before = current.get(expense.expense_id)
        if before is not None and before["version"] >= expense.version:
            continue
        after = projected(user_id, expense)
        await projection.replace_one({"_id": after["_id"]}, after, upsert=True, session=uow.session)
        difference(before, after, into=deltas)
    for month, cells in sorted(deltas.items()):
        await lock_month(uow, user_id, month, cells)


HANDLERS: Subscriptions = [
    *user_directory_handlers(purge_user),
    on(ExpenseCreated, on_expense, replay_safe=True),
    on(ExpenseUpdated, on_expense, replay_safe=True),
    on(ExpenseDeleted, on_expense, replay_safe=True),
    on(ExpensesImported, on_expenses_imported, replay_safe=True),
]
