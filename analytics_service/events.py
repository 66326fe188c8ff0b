"""Events analytics_service consumes: expense.* into the projection and rollups (storage),
budget.* into its copy of budgets (shared.budgets), budget.threshold_reached into a record of
alerts, and user.* for profiles and purging (shared.users)."""

from __future__ import annotations

from collections.abc import Mapping

from analytics_service.storage import apply_batch, apply_difference, purge_user
from shared.budgets import BUDGET_COPY_HANDLERS
from shared.consumer import Handler
from shared.events import (
    BudgetThresholdReached,
    EventEnvelope,
    EventType,
    ExpensesImported,
    ExpenseSnapshot,
)
from shared.money import to_cents
from shared.outbox import UnitOfWork
from shared.users import user_directory_handlers


def projected(event: EventEnvelope, expense: ExpenseSnapshot) -> dict[str, object]:
    return {
        "_id": expense.expense_id,
        "user_id": event.user_id,
        "version": expense.version,
        "kind": expense.kind,
        "amount_cents": to_cents(expense.base_amount),
        "category": expense.category,
        "date": expense.date.isoformat(),
        "month": expense.date.isoformat()[:7],
        "description": expense.description,
        "deleted": event.type is EventType.EXPENSE_DELETED,
    }


async def on_expense(event: EventEnvelope, uow: UnitOfWork) -> None:
    expense = event.payload()
    assert isinstance(expense, ExpenseSnapshot)
    current = await uow.db.expense_projection.find_one(
        {"_id": expense.expense_id}, session=uow.session
    )
    if current is not None and current["version"] >= expense.version:
        return  # a duplicate, or older than what is known: nothing changes
    after = projected(event, expense)
    await uow.db.expense_projection.replace_one(
        {"_id": expense.expense_id}, after, upsert=True, session=uow.session
    )
    await apply_difference(uow.db, current, after, uow.session)


async def on_expenses_imported(event: EventEnvelope, uow: UnitOfWork) -> None:
    """A batch of new expenses from an import: projected together, and each rollup cell
    changed once by the batch's total (one bulk write), instead of one event per row."""
    batch = event.payload()
    assert isinstance(batch, ExpensesImported)
    ids = [expense.expense_id for expense in batch.expenses]
    known = {
        doc["_id"]
        async for doc in uow.db.expense_projection.find(
            {"_id": {"$in": ids}}, {"_id": 1}, session=uow.session
        )
    }
    fresh = [projected(event, e) for e in batch.expenses if e.expense_id not in known]
    if not fresh:
        return
    await uow.db.expense_projection.insert_many(fresh, session=uow.session)
    await apply_batch(uow.db, fresh, uow.session)


async def on_threshold_reached(event: EventEnvelope, uow: UnitOfWork) -> None:
    alert = event.payload()
    assert isinstance(alert, BudgetThresholdReached)
    await uow.db.alerts.replace_one(
        {"_id": event.id},
        {
            "user_id": event.user_id,
            **alert.model_dump(mode="json"),
            "occurred_at": event.occurred_at,
        },
        upsert=True,
        session=uow.session,
    )


HANDLERS: Mapping[EventType, Handler] = {
    **user_directory_handlers(purge_user),
    EventType.EXPENSE_CREATED: on_expense,
    EventType.EXPENSE_UPDATED: on_expense,
    EventType.EXPENSE_DELETED: on_expense,
    EventType.EXPENSES_IMPORTED: on_expenses_imported,
    **BUDGET_COPY_HANDLERS,
    EventType.BUDGET_THRESHOLD_REACHED: on_threshold_reached,
}
