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

CurrencyCode = Annotated[ISO4217, BeforeValidator(_upper)]
TimezoneName = Annotated[str, Field(max_length=64), AfterValidator(_known_timezone)]
