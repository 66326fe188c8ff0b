"""Response bodies of analytics_service. Amounts are in the user's currency, as strings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.money import MoneyTotal


class CategoryShare(BaseModel):
    category: str
    total: MoneyTotal
    count: int
    share: Decimal = Field(description="part of the period's spending, 0 to 1")


class Summary(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")
    currency: str | None
    income: MoneyTotal
    expense: MoneyTotal
    savings: MoneyTotal = Field(description="income - expense")
    savings_rate: Decimal | None = Field(description="savings / income; null without income")
    count: int = Field(description="expenses in the period (as in the expense summary)")
    income_count: int = Field(description="incomes in the period")
    average_per_day: MoneyTotal = Field(description="expense / days in the period")
    categories: list[CategoryShare]


class TrendMonth(BaseModel):
    month: str
    income: MoneyTotal
    expense: MoneyTotal
    savings: MoneyTotal
    categories: dict[str, MoneyTotal]


class Trends(BaseModel):
    currency: str | None
    months: list[TrendMonth]


class WeekTotal(BaseModel):
    week: str = Field(description="ISO week, e.g. 2026-W47")
    start: dt.date
    end: dt.date
    income: MoneyTotal
    expense: MoneyTotal
    count: int = Field(description="expenses in the week")
    income_count: int = Field(description="incomes in the week")


class Weekly(BaseModel):
    currency: str | None
    weeks: list[WeekTotal]


class BudgetActual(BaseModel):
    budget_id: str
    month: str
    category: str | None
    amount: MoneyTotal = Field(description="the budget's amount")
    spent: MoneyTotal
    remaining: MoneyTotal
    percent_used: Decimal


class Insight(BaseModel):
    kind: str
    text: str
    data: dict[str, Any]


class Insights(BaseModel):
    month: str
    currency: str | None
    insights: list[Insight]


class CategoryForecast(BaseModel):
    category: str | None = Field(description="null: all categories")
    spent: MoneyTotal
    projected: MoneyTotal


class BudgetForecast(BaseModel):
    budget_id: str
    category: str | None
    amount: MoneyTotal = Field(description="the budget's amount")
    spent: MoneyTotal
    projected: MoneyTotal
    reaches_limit_on: dt.date | None = Field(
        description="when spending reached or, at this pace, reaches 100%; null: it does not "
        "this month"
    )
    text: str


class Forecast(BaseModel):
    month: str
    as_of: dt.date
    days_elapsed: int
    days_in_month: int
    currency: str | None
    overall: CategoryForecast
    categories: list[CategoryForecast]
    budgets: list[BudgetForecast]
