"""Which budget applies to a month: the rule budget_service and expense_service both follow.

A budget belongs to a month and a category (``None``: all categories). In a given month, the
budget of that month applies; failing one, the latest earlier budget with ``repeat`` set, so a
repeating budget carries on month after month until another one replaces it, and a month's
own budget overrides it for that month only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Budget = dict[str, Any]


def effective_budgets(budgets: Iterable[Budget], month: str) -> dict[str | None, Budget]:
    """Per category (``None`` for overall), the budget in force in ``month``."""
    chosen: dict[str | None, Budget] = {}
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
