"""Request and response bodies of expense_service."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from expense_service.schedule import Frequency
from shared.money import Money, MoneyTotal
from shared.types import CalendarDate, CategoryName, CurrencyCode, Flag, Month


class Kind(StrEnum):
    EXPENSE = "expense"
    INCOME = "income"


class SortOrder(StrEnum):
    DATE = "date"
    DATE_DESC = "-date"
    AMOUNT = "amount"
    AMOUNT_DESC = "-amount"


TAG_MAX_CHARS = 32


def _tag(value: Any) -> Any:
    """Tags, like categories, compare case-insensitively: stored and searched in lower case."""
    return value.strip().lower() if isinstance(value, str) else value


def _tag_length(value: str) -> str:
    # Checked here, not by max_length, so the message says characters and names the tag's
    # length: next to the list's own limit of items, a bare "at most 32" was read as items.
    if len(value) > TAG_MAX_CHARS:
        raise ValueError(f"a tag is at most {TAG_MAX_CHARS} characters (this one has {len(value)})")
    return value


Tag = Annotated[str, BeforeValidator(_tag), Field(min_length=1), AfterValidator(_tag_length)]
Description = Annotated[str, Field(max_length=500)]


def _unique_tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


Tags = Annotated[list[Tag], Field(max_length=10), AfterValidator(_unique_tags)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpenseFields(Body):
    """An expense as a client writes it (POST and PUT take all of it, PATCH any part)."""

    amount: Money
    currency: CurrencyCode | None = Field(
        default=None, description="ISO 4217; the user's own currency when left out"
    )
    base_amount: Money | None = Field(
        default=None,
        description="The amount in the user's currency: required when `currency` differs from "
        "it, equal to `amount` (or left out) when it does not",
    )
    category: CategoryName | None = Field(
        default=None,
        description="Left out: filed under the suggested category (POST "
        "/api/expenses/suggest-category) when the suggestion is confident enough, and "
        "`category_suggested` says so; otherwise 422",
    )
    description: Description = ""
    date: CalendarDate
    tags: Tags = Field(default_factory=list)
    kind: Kind = Kind.EXPENSE


class Patch(Body):
    """A PATCH body: only the fields sent change, and none of them may be null (but
    ``base_amount``, whose null means "recompute from the new amount or currency")."""

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        nulls = [
            k for k in self.model_fields_set if getattr(self, k) is None and k != "base_amount"
        ]
        if nulls:
            raise ValueError(f"these fields cannot be null: {', '.join(sorted(nulls))}")
        return self


class ExpensePatch(Patch):
    amount: Money | None = None
    currency: CurrencyCode | None = None
    base_amount: Money | None = None
    category: CategoryName | None = None
    description: Description | None = None
    date: CalendarDate | None = None
    tags: Tags | None = None
    kind: Kind | None = None


class ExpenseOut(BaseModel):
    id: str
    kind: Kind
    amount: MoneyTotal
    currency: str
    base_amount: MoneyTotal
    category: str
    description: str
    date: dt.date
    tags: list[str]
    recurring_id: str | None = Field(
        default=None, description="The recurring rule that created it, if one did"
    )
    category_suggested: bool = Field(
        default=False,
        description="True when the service chose the category (none was given); a later "
        "change of category makes it false",
    )
    created_at: datetime
    updated_at: datetime
    version: int


class ExpensePage(BaseModel):
    items: list[ExpenseOut]
    total: int
    limit: int
    offset: int


class MonthTotal(BaseModel):
    month: Month
    total: MoneyTotal
    count: int


class MonthlyTotals(BaseModel):
    year: int
    kind: Kind
    currency: str | None = Field(description="The user's currency, in which totals are counted")
    months: list[MonthTotal]
    total: MoneyTotal


class CategoryTotal(BaseModel):
    category: str
    total: MoneyTotal
    count: int
    share: Decimal = Field(description="This category's part of the month's total, 0 to 1")


class MonthSummary(BaseModel):
    month: Month
    kind: Kind
    currency: str | None
    total: MoneyTotal
    count: int
    categories: list[CategoryTotal]


class CategoryIn(Body):
    name: CategoryName


class CategoryOut(BaseModel):
    id: str | None = Field(description="null for built-in categories")
    name: str
    builtin: bool


class ImportProblem(BaseModel):
    line: int
    detail: str


class ImportResult(BaseModel):
    imported: int
    skipped: int = Field(description="Rows already imported before (same file imported again)")
    errors: list[ImportProblem]
    created_categories: list[str] = Field(
        default_factory=list, description="Categories the file named that you did not have yet"
    )
    delimiter: str = Field(default=",", description="The field separator read from the header")
    decimal: str = Field(default="point", description="The decimal mark: point or comma")


class ImportJob(BaseModel):
    """A large import in progress or done (GET /api/expenses/imports/{id})."""

    id: str
    state: Literal["running", "done", "failed", "interrupted"] = Field(
        description="interrupted: the service stopped mid-way; import the file again to finish"
    )
    rows: int = Field(description="rows in the file")
    processed: int = Field(description="rows dealt with so far (imported, skipped or refused)")
    imported: int
    skipped: int
    errors: list[ImportProblem] = Field(description="the first 1,000 refused rows, by line")
    errors_total: int
    created_categories: list[str]
    delimiter: str
    decimal: str
    detail: str | None = Field(description="why a failed or interrupted import stopped")
    created_at: datetime
    finished_at: datetime | None


# -- recurring rules -------------------------------------------------------------------------


class RecurringFields(Body):
    """A recurring expense or income: what each occurrence records, and when they fall."""

    amount: Money
    currency: CurrencyCode | None = Field(default=None, description="as for an expense")
    base_amount: Money | None = Field(default=None, description="as for an expense")
    category: CategoryName
    description: Description = ""
    tags: Tags = Field(default_factory=list)
    kind: Kind = Kind.EXPENSE
    frequency: Frequency
    interval: int = Field(default=1, ge=1, le=1000, description="every N days/weeks/...")
    start_date: CalendarDate = Field(description="the first occurrence; may be in the past")
    end_date: CalendarDate | None = Field(default=None, description="the last possible date")
    count: int | None = Field(default=None, ge=1, le=10_000, description="how many occurrences")

    @model_validator(mode="after")
    def _one_end(self) -> RecurringFields:
        if self.end_date is not None and self.count is not None:
            raise ValueError("give end_date or count, not both")
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class RecurringPatch(Patch):
    """Changes apply to future occurrences only; what a rule created stays as it is."""

    paused: Flag | None = Field(default=None, description="false resumes")
    skip_next: Literal[True] | None = Field(
        default=None, description="true: the next occurrence is not created"
    )
    amount: Money | None = None
    currency: CurrencyCode | None = None
    base_amount: Money | None = None
    category: CategoryName | None = None
    description: Description | None = None
    tags: Tags | None = None


class RecurringOut(BaseModel):
    id: str
    kind: Kind
    amount: MoneyTotal
    currency: str
    base_amount: MoneyTotal
    category: str
    description: str
    tags: list[str]
    frequency: Frequency
    interval: int
    start_date: dt.date
    end_date: dt.date | None
    count: int | None
    paused: bool
    next_date: dt.date | None = Field(description="null when the rule has ended")
    upcoming: list[dt.date] = Field(description="the next few dates, next_date first")
    created: int = Field(description="occurrences created so far")
    created_at: datetime
    updated_at: datetime
    version: int


class RecurringPage(BaseModel):
    items: list[RecurringOut]
    total: int
    limit: int
    offset: int


# -- category suggestion ---------------------------------------------------------------------


class SuggestionIn(Body):
    description: Annotated[str, Field(min_length=1, max_length=500)]
    amount: Money | None = None

    @model_validator(mode="after")
    def _not_blank(self) -> SuggestionIn:
        if not self.description.strip():
            raise ValueError("description is empty")
        return self


class RankedCategory(BaseModel):
    category: str
    confidence: Decimal = Field(ge=0, le=1)


class Suggestion(BaseModel):
    category: str
    confidence: Decimal = Field(ge=0, le=1, description="0 to 1")
    alternatives: list[RankedCategory] = Field(description="the next most likely, best first")
