"""Field types more than one service validates the same way."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BeforeValidator, Field, Strict
from pydantic_extra_types.currency_code import ISO4217


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _known_timezone(value: str) -> str:
    if value not in _TIMEZONES:
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/Paris'")
    try:
        ZoneInfo(value)
    except ZoneInfoNotFoundError as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


_TIMEZONES = available_timezones() | {"UTC"}


# Every user has these; their own come on top (expense_service owns categories).
BUILTIN_CATEGORIES = ("food", "travel", "shopping", "bills", "other")


def category_key(value: Any) -> Any:
    """Categories compare case-insensitively and without surrounding or repeated spaces."""
    return " ".join(value.split()).lower() if isinstance(value, str) else value


MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
# Months and dates are bounded so that every calculation on them (the next month or day, a
# year back, 60 months of trends) stays inside what ``datetime.date`` can represent (years
# 1..9999): outside these years a request is refused with 422 instead of overflowing into a 500.
MIN_YEAR = 1900
MAX_YEAR = 9998
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _month_in_range(value: str) -> str:
    if not MIN_YEAR <= int(value[:4]) <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


def _iso_date_only(value: Any) -> Any:
    """A date is an ISO 8601 string ``YYYY-MM-DD``: a number (read as a Unix time by pydantic's
    lax mode), a datetime string or a boolean is refused, not guessed at."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("a date is a string YYYY-MM-DD")
    return value


def _date_in_range(value: date) -> date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


CurrencyCode = Annotated[ISO4217, BeforeValidator(_upper)]
CategoryName = Annotated[
    str,
    BeforeValidator(category_key),
    Field(min_length=1, max_length=32, pattern=r"^[\w][\w &'./+-]*$"),
]
Month = Annotated[
    str, Field(pattern=MONTH_PATTERN, examples=["2026-11"]), AfterValidator(_month_in_range)
]
CalendarDate = Annotated[
    date,
    BeforeValidator(_iso_date_only),
    AfterValidator(_date_in_range),
    Field(examples=["2026-11-21"]),
]
# A JSON boolean, and nothing that merely looks like one (0, "yes").
Flag = Annotated[bool, Strict()]
TimezoneName = Annotated[str, Field(max_length=64), AfterValidator(_known_timezone)]
