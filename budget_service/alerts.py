"""Threshold alerts: once per budget, month and threshold; re-armed when spending falls back.

One change alerts at most once: when it crosses several thresholds at once (a large expense, a
budget created or lowered below what is already spent), all of them count as reached and only
the highest is announced.

An alert's state is a document ``<budget_id>:<month>:<threshold>`` that exists while the
threshold stands crossed. Crossing upwards inserts it and emits budget.threshold_reached in the
same transaction; falling back below deletes it, so the next crossing alerts again. The caller
holds the user-month lock (storage.lock_month), so concurrent events, and two budget_service
processes, take turns and cannot both see the threshold as not yet crossed.
"""

from __future__ import annotations

from decimal import Decimal

from budget_service.storage import spent_cents
from shared.budgets import Budget, budgets_in_force
from shared.events import BudgetThresholdReached
from shared.money import from_cents, percent
from shared.uow import UnitOfWork
from shared.users import user_profile

BASIS_POINTS = 10_000


def alert_id(budget_id: str, month: str, threshold_bp: int) -> str:
    return f"{budget_id}:{month}:{threshold_bp}"


async def evaluate(
    uow: UnitOfWork,
    user_id: str,
    month: str,
    categories: set[str | None],
    budgets: dict[str | None, Budget] | None = None,
) -> None:
    """Fires or re-arms the alerts of the budgets in force in ``month`` for ``categories`` and
    for the overall budget (``budgets``: those in force, when the caller has read them)."""
    if budgets is None:
        budgets = await budgets_in_force(uow.db, user_id, month, uow.session)
    for category in sorted(categories | {None}, key=lambda c: c or ""):
        budget = budgets.get(category)
        if budget is None:
            continue
        spent = await spent_cents(uow.db, user_id, month, category, uow.session)
        limit = budget["amount_cents"]
        keys = {bp: alert_id(budget["_id"], month, bp) for bp in budget["thresholds_bp"]}
        fired = {
            doc["threshold_bp"]
            async for doc in uow.db.alert_state.find(
                {"_id": {"$in": list(keys.values())}}, session=uow.session
            )
        }
        crossed = {bp for bp in keys if spent * BASIS_POINTS >= bp * limit}
        rearmed = fired - crossed  # spending fell back below: the next crossing alerts again
        if rearmed:
            await uow.db.alert_state.delete_many(
                {"_id": {"$in": [keys[bp] for bp in rearmed]}}, session=uow.session
            )
        newly = crossed - fired
        if not newly:
            continue
        # Every newly crossed threshold counts as reached, but only the highest is announced:
        # one change (a big expense, a budget set below what is spent) makes one alert, whose
        # threshold matches the percentage it reports.
        await uow.db.alert_state.insert_many(
            [
                {
                    "_id": keys[bp],
                    "user_id": user_id,
                    "budget_id": budget["_id"],
                    "month": month,
                    "threshold_bp": bp,
                    "spent_cents": spent,
                }
                for bp in sorted(newly)
            ],
            session=uow.session,
        )
        uow.emit(
            BudgetThresholdReached(
                budget_id=budget["_id"],
                month=month,
                category=category,
                threshold=Decimal(max(newly)) / BASIS_POINTS,
                spent=from_cents(spent),
                limit=from_cents(limit),
                percent=percent(spent, limit),
                currency=await _currency(uow, user_id),
            ),
            user_id=user_id,
        )


async def _currency(uow: UnitOfWork, user_id: str) -> str:
    profile = await user_profile(uow.db, user_id)
    if profile is None:
        # Raised, the event is retried once the user's profile has arrived.
        raise LookupError(f"profile of {user_id} not known yet")
    return str(profile["currency"])
