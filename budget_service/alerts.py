"""Threshold alerts: once per budget, month and threshold; re-armed when spending falls back.

An alert's state is a document ``<budget_id>:<month>:<threshold>`` that exists while the
threshold stands crossed. Crossing upwards inserts it and emits budget.threshold_reached in the
same transaction; falling back below deletes it, so the next crossing alerts again. The caller
holds the user-month lock (storage.lock_month), so concurrent events, and two budget_service
processes, take turns and cannot both see the threshold as not yet crossed.
"""

from __future__ import annotations

from decimal import Decimal

from budget_service.storage import budgets_in_force, spent_cents
from shared.events import BudgetThresholdReached
from shared.money import from_cents, percent
from shared.outbox import UnitOfWork
from shared.users import user_profile

BASIS_POINTS = 10_000


def alert_id(budget_id: str, month: str, threshold_bp: int) -> str:
    return f"{budget_id}:{month}:{threshold_bp}"


async def evaluate(uow: UnitOfWork, user_id: str, month: str, categories: set[str | None]) -> None:
    """Fires or re-arms the alerts of the budgets in force in ``month`` for ``categories`` and
    for the overall budget."""
    budgets = await budgets_in_force(uow.db, user_id, month, uow.session)
    for category in sorted(categories | {None}, key=lambda c: c or ""):
        budget = budgets.get(category)
        if budget is None:
            continue
        spent = await spent_cents(uow.db, user_id, month, category, uow.session)
        limit = budget["amount_cents"]
        for threshold_bp in budget["thresholds_bp"]:
            key = alert_id(budget["_id"], month, threshold_bp)
            crossed = spent * BASIS_POINTS >= threshold_bp * limit
            fired = await uow.db.alert_state.find_one({"_id": key}, session=uow.session)
            if crossed and fired is None:
                await uow.db.alert_state.insert_one(
                    {
                        "_id": key,
                        "user_id": user_id,
                        "budget_id": budget["_id"],
                        "month": month,
                        "threshold_bp": threshold_bp,
                        "spent_cents": spent,
                    },
                    session=uow.session,
                )
                await uow.emit(
                    BudgetThresholdReached(
                        budget_id=budget["_id"],
                        month=month,
                        category=category,
                        threshold=Decimal(threshold_bp) / BASIS_POINTS,
                        spent=from_cents(spent),
                        limit=from_cents(limit),
                        percent=percent(spent, limit),
                        currency=await _currency(uow, user_id),
                    ),
                    user_id=user_id,
                )
            elif not crossed and fired is not None:
                await uow.db.alert_state.delete_one({"_id": key}, session=uow.session)


async def _currency(uow: UnitOfWork, user_id: str) -> str:
    profile = await user_profile(uow.db, user_id)
    if profile is None:
        # Raised, the event is retried once the user's profile has arrived.
        raise LookupError(f"profile of {user_id} not known yet")
    return str(profile["currency"])
