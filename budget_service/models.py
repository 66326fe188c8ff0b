"""Request and response bodies of budget_service."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from shared.money import Money, MoneyTotal, plain_decimal
from shared.types import CategoryName, Flag, Month

Threshold = Annotated[
    Decimal,
    BeforeValidator(plain_decimal),
    Field(gt=0, le=2, decimal_places=4, allow_inf_nan=False),
]
DEFAULT_THRESHOLDS = [Decimal("0.8"), Decimal("1.0")]


def _sorted_unique(values: list[Decimal]) -> list[Decimal]:
    return sorted({value.normalize() for value in values})


Thresholds = Annotated[
    list[Threshold], Field(min_length=1, max_length=5), AfterValidator(_sorted_unique)
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BudgetIn(Body):
    month: Month
    category: CategoryName | None = Field(default=None, description="null: all categories together")
    amount: Money
    thresholds: Thresholds = Field(
        default_factory=lambda: list(DEFAULT_THRESHOLDS),
        description="fractions of the amount that raise an alert",
    )
    repeat: Flag = Field(
        default=False, description="also applies to every later month without its own budget"
    )
    hard_limit: Flag = Field(
        default=False, description="refuse expenses that would take spending past it"
    )


class BudgetPatch(Body):
    amount: Money | None = None
    thresholds: Thresholds | None = None
    repeat: Flag | None = None
    hard_limit: Flag | None = None


class MonthlyBudgetIn(Body):
    """The seed API's shorthand: an overall budget, for this month unless one is named."""

    amount: Money
    month: Month | None = None


class BudgetOut(BaseModel):
    id: str
    month: str
    category: str | None
    amount: MoneyTotal
    thresholds: list[Decimal]
    repeat: bool
    hard_limit: bool
    version: int


class State(StrEnum):
    OK = "ok"
    WARNING = "warning"
    EXCEEDED = "exceeded"


class BudgetStatus(BaseModel):
    budget_id: str
    month: str = Field(description="the month asked about")
    repeated_from: str | None = Field(
        description="the earlier month of the repeating budget in force; null for the month's "
        "own budget"
    )
    category: str | None
    amount: MoneyTotal = Field(description="the budget's amount")
    spent: MoneyTotal
    remaining: MoneyTotal
    percent_used: Decimal
    state: State
    projected_spend: MoneyTotal = Field(description="month-end spending at the pace so far")
    days_left: int
    hard_limit: bool
    currency: str | None


class ReservationIn(Body):
    """expense_service asks before writing an expense that may fall under a hard limit."""

    expense_id: str = Field(max_length=64)
    version: int = Field(ge=1)
    month: Month
    category: CategoryName
    amount_cents: int = Field(gt=0, le=10**11)
