"""Analytics arithmetic against hand-computed fixtures (pure logic)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from analytics_service.reports import (
    Cell,
    forecast_budget,
    is_unusual,
    ordinal,
    summarise,
)


def test_summary_of_a_month() -> None:
    cells = [
        Cell("expense", "food", 30030, 3),
        Cell("expense", "travel", 9970, 1),
        Cell("income", "other", 250000, 1),
    ]
    summary = summarise(cells, date(2026, 11, 1), date(2026, 11, 30), "EUR")
    assert (summary.income, summary.expense, summary.savings) == (
        Decimal("2500.00"),
        Decimal("400.00"),
        Decimal("2100.00"),
    )
    assert summary.savings_rate == Decimal("0.8400")
    # count is expenses only, as in the expense summary; incomes are counted apart
    assert (summary.count, summary.income_count) == (4, 1)
    assert summary.average_per_day == Decimal("13.33")  # 400.00 / 30 days
    assert [(c.category, c.total, c.count, c.share) for c in summary.categories] == [
        ("food", Decimal("300.30"), 3, Decimal("0.7508")),
        ("travel", Decimal("99.70"), 1, Decimal("0.2493")),
    ]


def test_summary_without_income_or_spending() -> None:
    summary = summarise(
        [Cell("expense", "food", 1000, 1)], date(2026, 1, 1), date(2026, 1, 1), None
    )
    assert summary.savings == Decimal("-10.00")
    assert summary.savings_rate is None
    assert summary.average_per_day == Decimal("10.00")
    empty = summarise([], date(2026, 1, 1), date(2026, 1, 31), None)
    assert (empty.expense, empty.categories, empty.count) == (Decimal("0.00"), [], 0)


def test_an_unusual_expense_is_flagged_and_ordinary_ones_are_not() -> None:
    lunches = [1200, 1500, 1100, 1400, 1300, 1600, 1250, 1350]
    assert is_unusual(24000, lunches)
    assert not any(is_unusual(x, [y for y in lunches if y != x]) for x in lunches)
    assert not is_unusual(2500, lunches)  # under twice the median (13.25)
    assert is_unusual(6000, lunches)
    assert not is_unusual(24000, lunches[:4])  # too little history to judge
    assert is_unusual(3000, [1000] * 6)  # identical history: twice the median is enough
    assert not is_unusual(1500, [1000] * 6)


def test_forecast_at_the_months_pace() -> None:
    today = date(2026, 11, 10)
    daily = {date(2026, 11, 2): 10000, date(2026, 11, 9): 10000}  # 200.00 in 10 days
    on_pace = forecast_budget("b", "food", 50000, daily, "2026-11", today)
    assert on_pace.projected == Decimal("600.00")  # 200 / 10 * 30
    assert on_pace.reaches_limit_on == date(2026, 11, 25)  # 300 more at 20.00 a day
    assert on_pace.text == "At this pace, Food reaches 100% of its budget on the 25th."
    within = forecast_budget("b", None, 100000, daily, "2026-11", today)
    assert within.reaches_limit_on is None
    assert "stays within its budget: 600.00 of 1000.00" in within.text
    reached = forecast_budget("b", "food", 15000, daily, "2026-11", today)
    assert reached.reaches_limit_on == date(2026, 11, 9)
    assert reached.text == "Food reached 100% of its budget on the 9th."
    past = forecast_budget("b", "food", 50000, daily, "2026-10", today)
    assert (past.projected, past.reaches_limit_on) == (Decimal("200.00"), None)


def test_calendar_helpers() -> None:
    assert [ordinal(d) for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "23rd",
        "31st",
    ]
