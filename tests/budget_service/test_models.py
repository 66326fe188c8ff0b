"""Validation of budget bodies (pure logic)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from budget_service.models import BudgetIn


def test_defaults_and_threshold_normalisation() -> None:
    body = BudgetIn.model_validate({"month": "2026-11", "amount": "500"})
    assert body.category is None
    assert body.thresholds == [Decimal("0.8"), Decimal("1")]
    assert (body.repeat, body.hard_limit) == (False, False)
    ordered = BudgetIn.model_validate(
        {"month": "2026-11", "amount": 1, "thresholds": ["1.0", 0.5, "0.50", 2]}
    )
    assert ordered.thresholds == [Decimal("0.5"), Decimal("1"), Decimal("2")]
    assert (
        BudgetIn.model_validate({"month": "2026-11", "amount": 1, "category": " Food "}).category
        == "food"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": -5},
        {"amount": 0},
        {"amount": "1.001"},
        {"month": "2026-13"},
        {"month": "2026-1"},
        {"thresholds": [0]},
        {"thresholds": [2.5]},
        {"thresholds": []},
        {"thresholds": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]},
        {"amount": {"$gt": 0}},
        {"category": {"$ne": None}},
        {"month": {"$regex": "."}},
        {"hard_limit": "maybe"},
        {"user_id": "someone"},
    ],
)
def test_bad_budgets(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        BudgetIn.model_validate({"month": "2026-11", "amount": 100, **changes})
