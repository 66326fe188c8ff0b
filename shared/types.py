"""Field types more than one service validates the same way."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BeforeValidator, Field
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


def category_key(value: Any) -> Any:
    """Categories compare case-insensitively and without surrounding or repeated spaces."""
    return " ".join(value.split()).lower() if isinstance(value, str) else value


MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"

CurrencyCode = Annotated[ISO4217, BeforeValidator(_upper)]
CategoryName = Annotated[
    str,
    BeforeValidator(category_key),
    Field(min_length=1, max_length=32, pattern=r"^[\w][\w &'./+-]*$"),
]
Month = Annotated[str, Field(pattern=MONTH_PATTERN, examples=["2026-11"])]
TimezoneName = Annotated[str, Field(max_length=64), AfterValidator(_known_timezone)]
