"""Query building and patch merging (pure logic)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from expense_service.ledger import fields_for_patch
from expense_service.models import Kind, SortOrder
from expense_service.storage import ExpenseFilter, sort_spec


def test_a_month_filter_covers_the_whole_month() -> None:
    query = ExpenseFilter(month="2028-02").query("u1")
    assert query["date"] == {"$gte": "2028-02-01", "$lt": "2028-03-01"}  # leap year: 29 days


def test_filters_become_half_open_ranges() -> None:
    query = ExpenseFilter(
        month="2026-02", date_from=date(2026, 2, 10), min_amount_cents=100, max_amount_cents=500
    ).query("u1")
    assert query["date"] == {"$gte": "2026-02-10", "$lt": "2026-03-01"}
    assert query["base_amount_cents"] == {"$gte": 100, "$lt": 501}
    to_only = ExpenseFilter(date_to=date(2026, 12, 31)).query("u1")
    assert to_only["date"] == {"$lt": "2027-01-01"}


def test_text_search_is_literal_and_case_insensitive() -> None:
    query = ExpenseFilter(q="a.b*(c)", kind=Kind.INCOME, tag="t", category="food").query("u")
    assert query["description"] == {"$regex": r"a\.b\*\(c\)", "$options": "i"}
    assert (query["kind"], query["tags"], query["category"], query["user_id"]) == (
        "income",
        "t",
        "food",
        "u",
    )


def test_sorting_always_breaks_ties_by_id() -> None:
    assert sort_spec(SortOrder.DATE) == [("date", 1), ("_id", 1)]
    assert sort_spec(SortOrder.AMOUNT_DESC) == [("base_amount_cents", -1), ("_id", -1)]


def test_patching_amount_or_currency_drops_the_old_conversion() -> None:
    current = {
        "amount_cents": 4000,
        "currency": "USD",
        "base_amount_cents": 3680,
        "category": "travel",
        "description": "",
        "date": "2026-11-02",
        "tags": [],
        "kind": "expense",
        "created_at": datetime.now(UTC),
        "version": 3,
    }
    assert fields_for_patch(current, {"amount": Decimal("50")})["base_amount"] is None
    assert fields_for_patch(current, {"category": "food"})["base_amount"] == Decimal("36.80")
    both = fields_for_patch(current, {"amount": Decimal("50"), "base_amount": Decimal("46")})
    assert both["base_amount"] == Decimal("46")
