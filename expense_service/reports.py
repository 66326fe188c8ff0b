"""The ledger's own totals: a year by month, and a month by category (in the user's currency).

Rows come from the account's tally (expense_service.counts: a few documents, however many
entries) or, while it is not complete, from one aggregation each
(expense_service.storage.totals_by, which reads every entry of the month or year); this
module shapes them, with zeros for empty months and shares rounded half up (shared.money).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from expense_service import counts
from expense_service.models import CategoryTotal, Kind, MonthlyTotals, MonthSummary, MonthTotal
from expense_service.storage import ExpenseFilter, totals_by
from shared.money import from_cents, share
from shared.mongo import Database
from shared.month import Month
from shared.users import user_profile


async def monthly(db: Database, user_id: str, year: int, kind: Kind) -> MonthlyTotals:
    months_of_year = [Month(year, number) for number in range(1, 13)]
    year_filter = ExpenseFilter(
        date_from=months_of_year[0].first, date_to=months_of_year[-1].last, kind=kind
    )
    tally = await counts.read(db, user_id, parts=("cells",))
    if tally is not None:
        in_year = f"{year:04d}-"
        found = _tallied(tally, kind, lambda month, _: month if month.startswith(in_year) else None)
    else:
        found = await totals_by(db, user_id, year_filter, "month")
    months = []
    for month in months_of_year:
        total, count = found.get(str(month), (0, 0))
        months.append(MonthTotal(month=str(month), total=from_cents(total), count=count))
    profile = await user_profile(db, user_id)
    return MonthlyTotals(
        year=year,
        kind=kind,
        currency=profile["currency"] if profile else None,
        months=months,
        total=sum((m.total for m in months), Decimal(0)),
    )


async def summary(db: Database, user_id: str, month: str, kind: Kind) -> MonthSummary:
    tally = await counts.read(db, user_id, parts=("cells",))
    if tally is not None:
        rows = _tallied(tally, kind, lambda m, category: category if m == month else None)
    else:
        rows = await totals_by(db, user_id, ExpenseFilter(month=month, kind=kind), "category")
    total_cents = sum(total for total, _ in rows.values())
    categories = sorted(
        (
            CategoryTotal(
                category=category,
                total=from_cents(total),
                count=count,
                share=share(total, total_cents) if total_cents else Decimal(0),
            )
            for category, (total, count) in rows.items()
        ),
        key=lambda c: (-c.total, c.category),
    )
    profile = await user_profile(db, user_id)
    return MonthSummary(
        month=month,
        kind=kind,
        currency=profile["currency"] if profile else None,
        total=from_cents(total_cents),
        count=sum(c.count for c in categories),
        categories=categories,
    )


def _tallied(
    tally: counts.Tally, kind: Kind, group: Callable[[str, str], str | None]
) -> dict[str, tuple[int, int]]:
    """Total cents and count of the tally's cells of ``kind``, by ``group(month, category)``
    (None leaves a cell out), as storage.totals_by gives them: no group without an entry."""
    rows: dict[str, tuple[int, int]] = {}
    for (month, cell_kind, category), (count, cents) in tally.cells.items():
        key = group(month, category) if cell_kind == kind.value else None
        if key is not None and count:
            total_before, count_before = rows.get(key, (0, 0))
            rows[key] = (total_before + cents, count_before + count)
    return rows
