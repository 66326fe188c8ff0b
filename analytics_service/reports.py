"""Every figure analytics_service answers with, computed from the rollups and the projection.

The arithmetic is in plain functions of plain data (tested against hand-computed fixtures);
the async functions only fetch what those need.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import Decimal
from typing import Any

from analytics_service.models import (
    BudgetActual,
    BudgetForecast,
    CategoryForecast,
    CategoryShare,
    Forecast,
    Insight,
    Insights,
    Summary,
    TrendMonth,
    Trends,
    Weekly,
    WeekTotal,
)
from analytics_service.pdf_report import BudgetLine, CategoryLine, ExpenseLine, Statement
from shared.budgets import Budget, budgets_in_force
from shared.events import (
    DigestBudget,
    DigestCategory,
    DigestCompiled,
    DigestExpense,
    DigestRequested,
)
from shared.money import from_cents, percent, share
from shared.mongo import Database, Document
from shared.month import Month
from shared.users import profile_and_now

ROBUST_Z = Decimal("3.5")  # Iglewicz and Hoaglin's cut-off for the modified z-score
MAD_SCALE = Decimal("1.4826")  # makes the MAD comparable to a standard deviation
MIN_HISTORY = 5


@dataclass(frozen=True)
class Cell:
    kind: str
    category: str
    cents: int
    count: int


# -- plain arithmetic --------------------------------------------------------------------------


def summarise(cells: Iterable[Cell], start: date, end: date, currency: str | None) -> Summary:
    cells = list(cells)
    income = sum(c.cents for c in cells if c.kind == "income")
    expense = sum(c.cents for c in cells if c.kind == "expense")
    days = (end - start).days + 1
    return Summary(
        start=start,
        end=end,
        currency=currency,
        income=from_cents(income),
        expense=from_cents(expense),
        savings=from_cents(income - expense),
        savings_rate=share(income - expense, income) if income else None,
        count=sum(c.count for c in cells if c.kind == "expense"),
        income_count=sum(c.count for c in cells if c.kind == "income"),
        average_per_day=from_cents(round(Decimal(expense) / days)),
        categories=category_shares(c for c in cells if c.kind == "expense"),
    )


def category_shares(cells: Iterable[Cell]) -> list[CategoryShare]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for cell in cells:
        totals[cell.category][0] += cell.cents
        totals[cell.category][1] += cell.count
    overall = sum(cents for cents, _ in totals.values())
    shares = [
        CategoryShare(
            category=category,
            total=from_cents(cents),
            count=count,
            share=share(cents, overall),
        )
        for category, (cents, count) in totals.items()
        if count
    ]
    return sorted(shares, key=lambda s: (-s.total, s.category))


def is_unusual(amount_cents: int, history_cents: list[int]) -> bool:
    """Far above the user's typical amount for the category, by the modified z-score of the
    median and the median absolute deviation (robust to the outliers it looks for). It also
    has to be at least twice the median, so a tight history does not flag small differences."""
    if len(history_cents) < MIN_HISTORY:
        return False
    median = Decimal(statistics.median(history_cents))
    if median <= 0 or amount_cents < 2 * median:
        return False
    mad = Decimal(statistics.median(abs(x - median) for x in history_cents))
    if mad == 0:
        return True
    return (amount_cents - median) / (MAD_SCALE * mad) > ROBUST_Z


def unusual_among(
    candidates: Iterable[Document], history: list[Document]
) -> list[tuple[Document, int]]:
    """The candidates that are unusual against the rest of their category in ``history``,
    each with the category's typical (median) amount, in the candidates' order."""
    by_category: dict[str, list[Document]] = defaultdict(list)
    for doc in history:  # grouped once: each expense compares with its category only
        by_category[doc["category"]].append(doc)
    found = []
    for doc in candidates:
        others = [h["amount_cents"] for h in by_category[doc["category"]] if h["_id"] != doc["_id"]]
        if is_unusual(doc["amount_cents"], others):
            found.append((doc, int(statistics.median(others))))
    return found


def ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def label(category: str | None) -> str:
    return "Overall spending" if category is None else category.capitalize()


def forecast_budget(
    budget_id: str,
    category: str | None,
    limit: int,
    daily: dict[date, int],
    month: str,
    today: date,
) -> BudgetForecast:
    """When cumulative spending reached the limit, or when it will at the month's pace."""
    calendar_month = Month.parse(month)
    first, last = calendar_month.bounds()
    elapsed = calendar_month.elapsed(today)
    spent = sum(daily.values())
    projected = calendar_month.pace(spent, today)
    reached: date | None = None
    running = 0
    for day in sorted(daily):
        running += daily[day]
        if running >= limit:
            reached = day
            break
    if reached is None and first <= today <= last and spent > 0:
        per_day = Decimal(spent) / elapsed
        candidate = today + timedelta(days=math.ceil((limit - spent) / per_day))
        reached = candidate if candidate <= last else None
    name = label(category)
    if reached is not None and reached <= today:
        text = f"{name} reached 100% of its budget on the {ordinal(reached.day)}."
    elif reached is not None:
        text = f"At this pace, {name} reaches 100% of its budget on the {ordinal(reached.day)}."
    else:
        text = (
            f"At this pace, {name} stays within its budget: "
            f"{from_cents(projected)} of {from_cents(limit)} by month-end."
        )
    return BudgetForecast(
        budget_id=budget_id,
        category=category,
        amount=from_cents(limit),
        spent=from_cents(spent),
        projected=from_cents(projected),
        reaches_limit_on=reached,
        text=text,
    )


# -- fetching ------------------------------------------------------------------------------------


@dataclass
class Reports:
    """One request's reports for one user."""

    db: Database
    user_id: str
    _profile: tuple[str | None, date] | None = None

    async def profile(self) -> tuple[str | None, date]:
        """The user's currency and today's date in their time zone (read once per request)."""
        if self._profile is None:
            profile, now = await profile_and_now(self.db, self.user_id)
            self._profile = (profile["currency"] if profile else None), now.date()
        return self._profile

    async def month_cells(self, months: list[str]) -> dict[str, list[Cell]]:
        found: dict[str, list[Cell]] = {month: [] for month in months}
        async for doc in self.db.rollups.find(
            {
                "user_id": self.user_id,
                "period": "month",
                "month": {"$in": months},
                "count": {"$gt": 0},
            }
        ):
            found[doc["month"]].append(
                Cell(doc["kind"], doc["category"], doc["total_cents"], doc["count"])
            )
        return found

    async def daily_docs(self, start: date, end: date, **match: Any) -> list[Document]:
        # Half-open: SecantusDB 0.7.0b3 treats $lte on a non-final compound-index field as $lt.
        query = {
            "user_id": self.user_id,
            "period": "day",
            "count": {"$gt": 0},
            **match,
            "date": {"$gte": start.isoformat(), "$lt": (end + timedelta(days=1)).isoformat()},
        }
        return [doc async for doc in self.db.rollups.find(query)]

    async def summary(self, start: date, end: date) -> Summary:
        currency, _ = await self.profile()
        docs = await self.daily_docs(start, end)
        return summarise(
            (Cell(d["kind"], d["category"], d["total_cents"], d["count"]) for d in docs),
            start,
            end,
            currency,
        )

    async def month_summary(self, month: str) -> Summary:
        currency, _ = await self.profile()
        cells = (await self.month_cells([month]))[month]
        start, end = Month.parse(month).bounds()
        return summarise(cells, start, end, currency)

    async def trends(self, end_month: str, count: int) -> Trends:
        currency, _ = await self.profile()
        months = [str(m) for m in Month.parse(end_month).back(count)]
        cells = await self.month_cells(months)
        out = []
        for month in months:
            income = sum(c.cents for c in cells[month] if c.kind == "income")
            expense = sum(c.cents for c in cells[month] if c.kind == "expense")
            by_category: dict[str, int] = defaultdict(int)
            for cell in cells[month]:
                if cell.kind == "expense":
                    by_category[cell.category] += cell.cents
            out.append(
                TrendMonth(
                    month=month,
                    income=from_cents(income),
                    expense=from_cents(expense),
                    savings=from_cents(income - expense),
                    categories={k: from_cents(v) for k, v in sorted(by_category.items())},
                )
            )
        return Trends(currency=currency, months=out)

    async def weekly(self, count: int) -> Weekly:
        currency, today = await self.profile()
        this_monday = today - timedelta(days=today.weekday())
        first_monday = this_monday - timedelta(weeks=count - 1)
        docs = await self.daily_docs(first_monday, this_monday + timedelta(days=6))
        weeks = []
        for n in range(count):
            start = first_monday + timedelta(weeks=n)
            end = start + timedelta(days=6)
            inside = [d for d in docs if start.isoformat() <= d["date"] <= end.isoformat()]
            year, week, _ = start.isocalendar()
            weeks.append(
                WeekTotal(
                    week=f"{year}-W{week:02d}",
                    start=start,
                    end=end,
                    income=from_cents(
                        sum(d["total_cents"] for d in inside if d["kind"] == "income")
                    ),
                    expense=from_cents(
                        sum(d["total_cents"] for d in inside if d["kind"] == "expense")
                    ),
                    count=sum(d["count"] for d in inside if d["kind"] == "expense"),
                    income_count=sum(d["count"] for d in inside if d["kind"] == "income"),
                )
            )
        return Weekly(currency=currency, weeks=weeks)

    async def budgets_in_force(self, month: str) -> dict[str | None, Budget]:
        return await budgets_in_force(self.db, self.user_id, month)

    async def budget_vs_actual(self, month: str) -> list[BudgetActual]:
        cells = (await self.month_cells([month]))[month]
        out = []
        for category, budget in sorted(
            (await self.budgets_in_force(month)).items(), key=lambda item: item[0] or ""
        ):
            spent = sum(
                c.cents
                for c in cells
                if c.kind == "expense" and (category is None or c.category == category)
            )
            limit = budget["amount_cents"]
            out.append(
                BudgetActual(
                    budget_id=budget["_id"],
                    month=month,
                    category=category,
                    amount=from_cents(limit),
                    spent=from_cents(spent),
                    remaining=from_cents(limit - spent),
                    percent_used=percent(spent, limit),
                )
            )
        return out

    async def insights(self, month: str) -> Insights:
        currency, _ = await self.profile()
        unit = f" {currency}" if currency else ""
        previous = str(Month.parse(month).previous())
        cells = await self.month_cells([previous, month])
        now = {
            s.category: s for s in category_shares(c for c in cells[month] if c.kind == "expense")
        }
        before = {
            s.category: s
            for s in category_shares(c for c in cells[previous] if c.kind == "expense")
        }
        insights: list[Insight] = []
        for category in sorted(now.keys() | before.keys()):
            this = now[category].total if category in now else from_cents(0)
            last = before[category].total if category in before else from_cents(0)
            if this == last:
                continue
            change = percent(this - last, last, "1") if last else None
            direction = "rose" if this > last else "fell"
            how_much = f" {abs(change)}%" if change is not None else ""
            insights.append(
                Insight(
                    kind="month_over_month",
                    text=f"{category.capitalize()} spending {direction}{how_much}, from {last} to "
                    f"{this}{unit}.",
                    data={
                        "category": category,
                        "previous": str(last),
                        "current": str(this),
                        "change_percent": str(change) if change is not None else None,
                    },
                )
            )
        top = list(now.values())[:3]
        if top:
            listed = ", ".join(f"{s.category} {s.total} ({s.share * 100:.0f}%)" for s in top)
            insights.append(
                Insight(
                    kind="top_categories",
                    text=f"Top categories: {listed}.",
                    data={"categories": [s.model_dump(mode="json") for s in top]},
                )
            )
        start, end = Month.parse(month).bounds()
        expenses = [
            doc
            async for doc in self.db.expense_projection.find(
                {"user_id": self.user_id, "month": month, "kind": "expense", "deleted": False}
            )
        ]
        for doc in sorted(expenses, key=lambda d: (-d["amount_cents"], d["date"]))[:3]:
            insights.append(
                Insight(
                    kind="largest_expense",
                    text=f"Large expense: {_describe(doc, unit)}.",
                    data=_expense_data(doc),
                )
            )
        history = await self.year_before(start, end)
        for doc, typical_cents in unusual_among(sorted(expenses, key=lambda d: d["date"]), history):
            typical = from_cents(typical_cents)
            insights.append(
                Insight(
                    kind="unusual_expense",
                    text=f"Unusual: {_describe(doc, unit)}, where you typically spend {typical}.",
                    data=_expense_data(doc) | {"typical": str(typical)},
                )
            )
        return Insights(month=month, currency=currency, insights=insights)

    async def forecast(self, month: str) -> Forecast:
        currency, today = await self.profile()
        calendar_month = Month.parse(month)
        first, last = calendar_month.bounds()
        elapsed = calendar_month.elapsed(today)
        docs = await self.daily_docs(first, last, kind="expense")
        by_category: dict[str, int] = defaultdict(int)
        for doc in docs:
            by_category[doc["category"]] += doc["total_cents"]

        def projection(category: str | None, spent: int) -> CategoryForecast:
            projected = calendar_month.pace(spent, today)
            return CategoryForecast(
                category=category, spent=from_cents(spent), projected=from_cents(projected)
            )

        budgets = []
        for category, budget in sorted(
            (await self.budgets_in_force(month)).items(), key=lambda item: item[0] or ""
        ):
            daily: dict[date, int] = defaultdict(int)
            for doc in docs:
                if category is None or doc["category"] == category:
                    daily[date.fromisoformat(doc["date"])] += doc["total_cents"]
            budgets.append(
                forecast_budget(
                    budget["_id"], category, budget["amount_cents"], dict(daily), month, today
                )
            )
        return Forecast(
            month=month,
            as_of=today,
            days_elapsed=elapsed,
            days_in_month=calendar_month.days,
            currency=currency,
            overall=projection(None, sum(by_category.values())),
            categories=[
                projection(c, s)
                for c, s in sorted(by_category.items(), key=lambda i: (-i[1], i[0]))
            ],
            budgets=budgets,
        )

    async def digest(self, request: DigestRequested) -> DigestCompiled:
        """The weekly digest of ``request``'s 7 days: spent and income, the top categories
        against the week before, budgets that at this pace pass their limit this month, and
        expenses far above the user's usual for their category."""
        currency, _ = await self.profile()
        start, end = request.start, request.end
        week_before = start - timedelta(days=7)
        docs = await self.daily_docs(week_before, end)
        spent: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # category: [this, before]
        income = 0
        for doc in docs:
            this_week = doc["date"] >= start.isoformat()
            if doc["kind"] == "income":
                income += doc["total_cents"] if this_week else 0
            else:
                spent[doc["category"]][0 if this_week else 1] += doc["total_cents"]
        top = sorted(
            ((c, now, then) for c, (now, then) in spent.items() if now),
            key=lambda item: (-item[1], item[0]),
        )[:3]
        forecast = await self.forecast(Month.key_of(end))
        at_risk = [
            DigestBudget(
                category=b.category,
                limit=b.amount,
                spent=b.spent,
                projected=b.projected,
                reaches_limit_on=b.reaches_limit_on,
                text=b.text,
            )
            for b in forecast.budgets
            if b.reaches_limit_on is not None or b.projected >= b.amount
        ]
        unusual = await self.unusual_between(start, end)
        return DigestCompiled(
            digest_id=request.digest_id,
            start=start,
            end=end,
            currency=currency,
            spent=from_cents(sum(now for now, _ in spent.values())),
            income=from_cents(income),
            top_categories=[
                DigestCategory(
                    category=category,
                    spent=from_cents(now),
                    previous=from_cents(then),
                    change_percent=percent(now - then, then, "1") if then else None,
                )
                for category, now, then in top
            ],
            budgets_at_risk=at_risk,
            unusual=unusual,
        )

    async def year_before(self, start: date, end: date) -> list[Document]:
        """The expenses of the year before ``start`` up to ``end``: what "unusual" compares
        with."""
        return [
            doc
            async for doc in self.db.expense_projection.find(
                {
                    "user_id": self.user_id,
                    "kind": "expense",
                    "deleted": False,
                    "date": {
                        "$gte": (start - timedelta(days=365)).isoformat(),
                        "$lt": (end + timedelta(days=1)).isoformat(),
                    },
                }
            )
        ]

    async def unusual_between(self, start: date, end: date) -> list[DigestExpense]:
        history = await self.year_before(start, end)
        inside = sorted(
            (doc for doc in history if doc["date"] >= start.isoformat()), key=lambda d: d["date"]
        )
        return [
            DigestExpense(
                expense_id=doc["_id"],
                date=date.fromisoformat(doc["date"]),
                category=doc["category"],
                description=doc["description"],
                amount=from_cents(doc["amount_cents"]),
                typical=from_cents(typical_cents),
            )
            for doc, typical_cents in unusual_among(inside, history)
        ]

    async def statement(self, month: str) -> Statement:
        """The monthly statement's figures (pdf_report renders them)."""
        profile, now = await profile_and_now(self.db, self.user_id)
        currency = profile["currency"] if profile else "?"
        previous = str(Month.parse(month).previous())
        this, before = await self.month_summary(month), await self.month_summary(previous)
        earlier = {c.category: c.total for c in before.categories}
        budgets = []
        in_force = await self.budgets_in_force(month)
        for line in await self.budget_vs_actual(month):
            first = (in_force.get(line.category) or {}).get("thresholds_bp") or [8000]
            used = line.spent * 10_000
            state = (
                "exceeded"
                if line.spent >= line.amount
                else "warning"
                if used >= first[0] * line.amount
                else "ok"
            )
            name = "Overall" if line.category is None else line.category
            budgets.append(BudgetLine(name, line.amount, line.spent, line.percent_used, state))
        expenses = [
            doc
            async for doc in self.db.expense_projection.find(
                {"user_id": self.user_id, "month": month, "kind": "expense", "deleted": False}
            )
        ]
        largest = sorted(expenses, key=lambda d: (-d["amount_cents"], d["date"]))[:10]
        owner = (profile.get("name") or profile["email"]) if profile else self.user_id
        return Statement(
            month=month,
            title=f"Statement for {Month.parse(month).first:%B %Y}",
            owner=owner,
            currency=currency,
            timezone=profile["timezone"] if profile else "UTC",
            generated=now.astimezone(UTC),
            income=this.income,
            expense=this.expense,
            savings=this.savings,
            previous_income=before.income,
            previous_expense=before.expense,
            categories=[
                CategoryLine(c.category, c.total, c.share, earlier.get(c.category, Decimal(0)))
                for c in this.categories
            ],
            budgets=budgets,
            largest=[
                ExpenseLine(
                    date.fromisoformat(d["date"]),
                    d["description"],
                    d["category"],
                    from_cents(d["amount_cents"]),
                )
                for d in largest
            ],
        )


def _describe(doc: Document, unit: str) -> str:
    what = f"{doc['category']}: {doc['description']}" if doc["description"] else doc["category"]
    return f"{from_cents(doc['amount_cents'])}{unit} on {doc['date']} ({what})"


def _expense_data(doc: Document) -> dict[str, Any]:
    return {
        "expense_id": doc["_id"],
        "amount": str(from_cents(doc["amount_cents"])),
        "date": doc["date"],
        "category": doc["category"],
        "description": doc["description"],
    }
