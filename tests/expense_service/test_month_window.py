"""Pages by date from per-month counts (pure logic): every page equals the same slice of the
whole list sorted, for any offset, limit and order, while reading only the months it shows."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from expense_service.models import SortOrder
from expense_service.storage import ExpenseFilter, month_window


def dataset(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for month in ("2025-11", "2025-12", "2026-01", "2026-03"):  # a gap: February is empty
        for _ in range(rng.randint(0, 9)):
            day = rng.randint(1, 28)
            rows.append(
                {"_id": str(uuid.UUID(int=rng.getrandbits(128))), "date": f"{month}-{day:02d}"}
            )
    return rows


def ordered(rows: list[dict[str, Any]], order: SortOrder) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["date"], r["_id"]), reverse=order is SortOrder.DATE_DESC)


def page_from_window(
    rows: list[dict[str, Any]], order: SortOrder, limit: int, offset: int, month: str | None = None
) -> tuple[list[dict[str, Any]], int, set[str]]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["date"][:7]] = counts.get(row["date"][:7], 0) + 1
    window = month_window("u", counts, ExpenseFilter(month=month), order, limit, offset)
    assert window is not None
    dates = window.query.get("date")
    inside = [r for r in rows if dates is not None and dates["$gte"] <= r["date"] < dates["$lt"]]
    page = ordered(inside, order)[window.skip : window.skip + limit]
    return page, window.total, {r["date"][:7] for r in inside}


@pytest.mark.parametrize("seed", range(30))
def test_every_page_is_the_slice_of_the_whole_list(seed: int) -> None:
    rng = random.Random(seed)
    rows = dataset(rng)
    for order in (SortOrder.DATE, SortOrder.DATE_DESC):
        whole = ordered(rows, order)
        for limit in (1, 3, 7, 50):
            for offset in range(0, len(rows) + 3):
                page, total, read = page_from_window(rows, order, limit, offset)
                assert total == len(rows)
                assert page == whole[offset : offset + limit], (order, limit, offset)
                # Only the months the page needs are read (at most one more than it shows).
                assert len(read) <= len({r["date"][:7] for r in page}) + 1


def test_a_month_filter_reads_that_month_only() -> None:
    rows = dataset(random.Random(7))
    page, total, read = page_from_window(rows, SortOrder.DATE_DESC, 5, 0, month="2025-12")
    in_month = [r for r in rows if r["date"].startswith("2025-12")]
    assert total == len(in_month)
    assert page == ordered(in_month, SortOrder.DATE_DESC)[:5]
    assert read <= {"2025-12"}


@pytest.mark.parametrize(
    ("changes", "order"),
    [
        ({"category": "food"}, SortOrder.DATE),
        ({"q": "coffee"}, SortOrder.DATE),
        ({"date_from": None}, SortOrder.AMOUNT),
        ({"kind": "income"}, SortOrder.DATE_DESC),
    ],
)
def test_other_filters_and_orders_fall_back(changes: dict[str, Any], order: SortOrder) -> None:
    assert month_window("u", {"2026-01": 3}, ExpenseFilter(**changes), order, 10, 0) is None


def test_counts_that_do_not_add_up_fall_back() -> None:
    assert month_window("u", {"2026-01": -1}, ExpenseFilter(), SortOrder.DATE, 10, 0) is None
