"""Events analytics_service consumes: expense.* into the projection and rollups (storage),
budget.* into its copy of budgets (shared.budgets), budget.threshold_reached into a record of
alerts, user.* for profiles and purging (shared.users), and digest.requested, which it answers
with the week's digest.compiled."""

from __future__ import annotations

from analytics_service.reports import Reports
from analytics_service.storage import purge_user, queue_batch, queue_difference
from shared.budgets import BUDGET_COPY_HANDLERS
from shared.consumer import (
    EventContext,
    StaleEventError,
    Subscriptions,
    on,
    replace_if_newer,
)
from shared.events import (
    BudgetThresholdReached,
    DigestRequested,
    EventType,
    ExpenseCreated,
    ExpenseDeleted,
    ExpensesImported,
    ExpenseSnapshot,
    ExpenseUpdated,
)
from shared.money import to_cents
from shared.month import Month
from shared.uow import UnitOfWork
from shared.users import user_directory_handlers


def projected(event: EventContext, expense: ExpenseSnapshot) -> dict[str, object]:
    return {
        "_id": expense.expense_id,
        "user_id": event.user_id,
        "version": expense.version,
        "kind": expense.kind,
        "amount_cents": to_cents(expense.base_amount),
        "category": expense.category,
        "date": expense.date.isoformat(),
        "month": Month.key_of(expense.date),
        "description": expense.description,
        "deleted": event.type is EventType.EXPENSE_DELETED,
    }


async def on_expense(expense: ExpenseSnapshot, event: EventContext, uow: UnitOfWork) -> None:
    """The projection replaced (a duplicate or an older version rolls back: nothing changes),
    the rollups changed by the difference, written with the commit's other writes.

    A new expense (its first version) is inserted rather than replaced: it can replace
    nothing, so the write need not come back with what it replaced, and it goes with the
    rollups' changes in one round trip instead of two. One already there (a repeat, or a later
    version that came first) is a duplicate key, which rolls the work back as a stale event."""
    after = projected(event, expense)
    if event.type is EventType.EXPENSE_CREATED and expense.version == 1:
        uow.queue_insert(uow.db.expense_projection, after, on_duplicate=StaleEventError)
        queue_difference(uow, None, after)
        return
    before = await replace_if_newer(uow.db.expense_projection, after, uow)
    queue_difference(uow, before, after)


async def on_expenses_imported(
    batch: ExpensesImported, event: EventContext, uow: UnitOfWork
) -> None:
    """A batch of new expenses from an import: projected together, and each rollup cell
    changed once by the batch's total, written with the commit's other writes, instead of one
    event per row."""
    ids = [expense.expense_id for expense in batch.expenses]
    known = {
        doc["_id"]
        async for doc in uow.db.expense_projection.find(
            {"_id": {"$in": ids}}, {"_id": 1}, session=uow.session
        )
    }
    fresh = [projected(event, e) for e in batch.expenses if e.expense_id not in known]
    for doc in fresh:
        uow.queue_insert(uow.db.expense_projection, doc)
    queue_batch(uow, fresh)


async def on_threshold_reached(
    alert: BudgetThresholdReached, event: EventContext, uow: UnitOfWork
) -> None:
    """Kept under the event's id, so a repeat writes it again as it was: replay-safe, with no
    processed-event record. Its one write is atomic alone, so it is sent outside the unit of
    work's transaction, which stays empty and sends no commit: one round trip, not two."""
    await uow.db.alerts.replace_one(
        {"_id": event.id},
        {
            "user_id": event.user_id,
            **alert.model_dump(mode="json"),
            "occurred_at": event.occurred_at,
        },
        upsert=True,
    )


async def on_digest_requested(
    request: DigestRequested, event: EventContext, uow: UnitOfWork
) -> None:
    """Compiled from the rollups as they stand (events still in flight miss this digest, as
    they would miss a report read at the same moment); the answer goes out through the outbox
    with the processed-event mark, so each request is answered once."""
    if event.user_id is None:
        return
    reports = Reports(uow.db, event.user_id)
    uow.emit(await reports.digest(request), user_id=event.user_id)


HANDLERS: Subscriptions = [
    *user_directory_handlers(purge_user),
    on(ExpenseCreated, on_expense, replay_safe=True),
    on(ExpenseUpdated, on_expense, replay_safe=True),
    on(ExpenseDeleted, on_expense, replay_safe=True),
    on(ExpensesImported, on_expenses_imported, replay_safe=True),
    *BUDGET_COPY_HANDLERS,
    on(BudgetThresholdReached, on_threshold_reached, replay_safe=True),
    on(DigestRequested, on_digest_requested),
]
