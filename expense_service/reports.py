"""The ledger's own totals: a year by month, and a month by category (in the user's currency).

Rows come from one aggregation each (expense_service.storage.totals_by); this module shapes
them, with zeros for empty months and shares rounded half up (shared.money).
"""

from __future__ import annotations

from decimal import Decimal

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
