"""Money: decimals with at most 2 places in the API, integer minor units (cents) in storage.

Integers make every sum in Mongo exact and cheap; the API never sees a binary float.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer

MAX_AMOUNT = Decimal("1000000000")
CENT = Decimal("0.01")


def format_money(value: Decimal) -> str:
    return f"{value.quantize(CENT)}"


_PLAIN_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def plain_decimal(value: Any) -> Any:
    """An amount is a JSON number or a string of ASCII digits with an optional point: no
    spaces, underscores, exponents or other scripts' digits, all of which ``Decimal`` would
    quietly accept. (Places beyond 2 are refused by the field itself, with a clear message.)"""
    if isinstance(value, bool):
        raise ValueError("an amount is a number such as 12.50, not a boolean")
    if isinstance(value, str) and not _PLAIN_DECIMAL.match(value):
        raise ValueError("an amount is a plain decimal number such as 12.50")
    return value


# Input: a JSON number or string, > 0, at most 2 places, at most 1,000,000,000. Output: "12.50".
Money = Annotated[
    Decimal,
    BeforeValidator(plain_decimal),
    Field(
        gt=0,
        le=MAX_AMOUNT,
        decimal_places=2,
        allow_inf_nan=False,
        json_schema_extra={"examples": ["12.50"]},
    ),
    PlainSerializer(format_money, return_type=str, when_used="json"),
]
# A computed amount (a total, say): any size, still 2 places, still a string in JSON.
MoneyTotal = Annotated[Decimal, PlainSerializer(format_money, return_type=str, when_used="json")]


def to_cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_exact())


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def share(part: int | Decimal, whole: int | Decimal) -> Decimal:
    """``part`` of ``whole`` as a fraction to 4 places (0.2493), rounded half up; 0 for 0."""
    return _ratio(part, whole, Decimal("0.0001"))


def percent(part: int | Decimal, whole: int | Decimal, places: str = "0.01") -> Decimal:
    """``part`` of ``whole`` in percent (82.00), rounded half up; 0 for a zero whole."""
    return _ratio(Decimal(part) * 100, whole, Decimal(places))


def _ratio(part: int | Decimal, whole: int | Decimal, quantum: Decimal) -> Decimal:
    if not whole:
        return Decimal(0).quantize(quantum)
    return (Decimal(part) / Decimal(whole)).quantize(quantum, rounding=ROUND_HALF_UP)


def projected_cents(spent_cents: int, days_in_month: int, days_elapsed: int) -> int:
    """Month-end spending at the pace so far, rounded half up to the cent: the one formula
    behind budget status and analytics forecasts (79.99 by day 22 of 30 -> 109.08, not the
    109.07 an integer division gave). Before the month starts there is no pace: what is already
    recorded (future-dated expenses) stands."""
    if days_elapsed <= 0:
        return spent_cents
    exact = Decimal(spent_cents) * days_in_month / days_elapsed
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
