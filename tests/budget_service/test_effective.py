"""Which budget is in force in a month (pure logic)."""

from __future__ import annotations

from typing import Any

from shared.budgets import effective_budgets


def budget(
    month: str, category: str | None = None, repeat: bool = False, **extra: Any
) -> dict[str, Any]:
    return {
        "_id": f"{month}/{category}/{repeat}",
        "month": month,
        "category": category,
        "repeat": repeat,
        **extra,
    }


def test_a_months_own_budget_applies() -> None:
    budgets = [budget("2026-11", "food"), budget("2026-11")]
    assert set(effective_budgets(budgets, "2026-11")) == {"food", None}
    assert effective_budgets(budgets, "2026-12") == {}
    assert effective_budgets(budgets, "2026-10") == {}


def test_repeating_budget_carries_on_until_replaced() -> None:
    september = budget("2026-09", "food", repeat=True)
    october = budget("2026-10", "food")  # October only
    december = budget("2026-12", "food", repeat=True)
    budgets = [december, october, september]
    assert effective_budgets(budgets, "2026-08") == {}
    assert effective_budgets(budgets, "2026-09")["food"] is september
    assert effective_budgets(budgets, "2026-10")["food"] is october
    assert effective_budgets(budgets, "2026-11")["food"] is september
    assert effective_budgets(budgets, "2027-03")["food"] is december


def test_categories_are_independent() -> None:
    budgets = [budget("2026-01", None, repeat=True), budget("2026-05", "travel")]
    in_may = effective_budgets(budgets, "2026-05")
    assert set(in_may) == {None, "travel"}
    assert set(effective_budgets(budgets, "2026-06")) == {None}
