"""Money in and out (pure logic)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from shared.money import Money, from_cents, to_cents


class Priced(BaseModel):
    amount: Money


@pytest.mark.parametrize(
    ("raw", "cents"), [("0.01", 1), ("12.5", 1250), ("1000000000", 10**11), ("19.99", 1999)]
)
def test_cents_round_trip(raw: str, cents: int) -> None:
    assert to_cents(Decimal(raw)) == cents
    assert from_cents(cents) == Decimal(raw)


def test_json_out_is_a_two_place_string() -> None:
    assert Priced(amount=Decimal("12.5")).model_dump_json() == '{"amount":"12.50"}'
    assert Priced.model_validate_json('{"amount": 0.1}').amount == Decimal("0.1")


@pytest.mark.parametrize(
    "raw",
    ['"0"', "-1", '"1.001"', "NaN", "1e999", '"ten"', "true", '{"$gt": 0}', '"1000000000.01"'],
)
def test_bad_amounts(raw: str) -> None:
    with pytest.raises(ValidationError):
        Priced.model_validate_json(f'{{"amount": {raw}}}')


def test_shares_and_percentages_round_half_up() -> None:
    from shared.money import percent, share

    assert share(9970, 40000) == Decimal("0.2493")  # 0.24925: half up, not to even
    assert share(1, 3) == Decimal("0.3333")
    assert share(5, 0) == Decimal("0.0000")
    assert percent(41000, 50000) == Decimal("82.00")
    assert percent(1, 8, "1") == Decimal("13")  # 12.5 -> 13
    assert percent(-1, 8, "1") == Decimal("-13")
