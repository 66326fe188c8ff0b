"""Threshold alerts: once per budget, month and threshold; re-armed when spending falls back.

One change alerts at most once: when it crosses several thresholds at once (a large expense, a
budget created or lowered below what is already spent), all of them count as reached and only
the highest is announced.

The thresholds that stand crossed are kept on the user's month document (budget_service.
storage), ``alerts.<budget id>.<basis points>`` = the spending that crossed it. Crossing upwards
adds one and emits budget.threshold_reached in the same transaction; falling back below removes
it, so the next crossing alerts again. The caller has taken the month (storage.lock_month, which
also handed it the document read here), so concurrent events, and two budget_service processes,
take turns and cannot both see the threshold as not yet crossed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from budget_service.storage import month_id, spent_in
from shared.budgets import Budget, budgets_in_force
from shared.events import BudgetThresholdReached
from shared.money import from_cents, percent
from shared.mongo import Document
from shared.uow import UnitOfWork
from shared.users import user_profile

BASIS_POINTS = 10_000


async def evaluate(
    uow: UnitOfWork,
    month: Document,
    categories: set[str | None],
    budgets: dict[str | None, Budget] | None = None,
) -> None:
    """Fires or re-arms the alerts of the budgets in force in ``month`` (a month document, as
    lock_month returned it) for ``categories`` and for the overall budget (``budgets``: those
    in force, when the caller has read them)."""
    user_id, key = month["user_id"], month["month"]
    if budgets is None:
        budgets = await budgets_in_force(uow.db, user_id, key, uow.session)
    standing: dict[str, dict[str, int]] = month.get("alerts", {})
    changes: dict[str, dict[str, Any]] = {"$set": {}, "$unset": {}}
    for category in sorted(categories | {None}, key=lambda c: c or ""):
        budget = budgets.get(category)
        if budget is None:
            continue
        spent = spent_in(month, category)
        limit = budget["amount_cents"]
        fired = {int(bp) for bp in standing.get(budget["_id"], {})}
        crossed = {bp for bp in budget["thresholds_bp"] if spent * BASIS_POINTS >= bp * limit}
        field = f"alerts.{budget['_id']}"
        # Spending fell back below: the next crossing alerts again.
        for bp in fired - crossed:
            changes["$unset"][f"{field}.{bp}"] = ""
        newly = crossed - fired
        if not newly:
            continue
        for bp in newly:
            changes["$set"][f"{field}.{bp}"] = spent
        # Every newly crossed threshold counts as reached, but only the highest is announced:
        # one change (a big expense, a budget set below what is spent) makes one alert, whose
        # threshold matches the percentage it reports.
        uow.emit(
            BudgetThresholdReached(
                budget_id=budget["_id"],
                month=key,
                category=category,
                threshold=Decimal(max(newly)) / BASIS_POINTS,
                spent=from_cents(spent),
                limit=from_cents(limit),
                percent=percent(spent, limit),
                currency=await _currency(uow, user_id),
            ),
            user_id=user_id,
        )
    update = {op: fields for op, fields in changes.items() if fields}
    if update:
        uow.queue_update(uow.db.months, {"_id": month_id(user_id, key)}, update)


async def forget_thresholds(
    uow: UnitOfWork, user_id: str, budget_id: str, thresholds_bp: list[int] | None = None
) -> None:
    """Forgets a budget's crossed thresholds in every month: ``thresholds_bp`` of them (removed
    from the budget), or all (the budget deleted). A threshold added back later alerts again."""
    field = f"alerts.{budget_id}"
    removed = [field] if thresholds_bp is None else [f"{field}.{bp}" for bp in thresholds_bp]
    if removed:
        await uow.db.months.update_many(
            {"user_id": user_id, field: {"$exists": True}},
            {"$unset": dict.fromkeys(removed, "")},
            session=uow.session,
        )


async def _currency(uow: UnitOfWork, user_id: str) -> str:
    profile = await user_profile(uow.db, user_id)
    if profile is None:
        # Raised, the event is retried once the user's profile has arrived.
        raise LookupError(f"profile of {user_id} not known yet")
    return str(profile["currency"])
