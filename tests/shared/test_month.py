"""Month arithmetic (pure logic)."""

from __future__ import annotations

from datetime import date

import pytest

from shared.month import Month


def test_parse_and_print_round_trip() -> None:
    assert str(Month.parse("2026-02")) == "2026-02"
    for bad in ("2026-13", "2026-1", "26-01", "2026-00", "x"):
        with pytest.raises(ValueError, match=r".+"):
            Month.parse(bad)


def test_bounds_know_month_lengths_and_leap_years() -> None:
    assert Month(2024, 2).bounds() == (date(2024, 2, 1), date(2024, 2, 29))
    assert Month(2026, 2).days == 28
    assert Month(2026, 12).last == date(2026, 12, 31)


def test_neighbours_cross_years() -> None:
    assert Month(2026, 12).next() == Month(2027, 1)
    assert Month(2026, 1).previous() == Month(2025, 12)
    assert [str(m) for m in Month(2026, 2).back(4)] == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_elapsed_days_before_during_and_after() -> None:
    month = Month(2026, 9)  # 30 days
    assert month.elapsed(date(2026, 8, 31)) == 0
    assert month.elapsed(date(2026, 9, 22)) == 22
    assert month.elapsed(date(2026, 10, 1)) == 30
    assert month.days_left(date(2026, 9, 22)) == 8


def test_pace_rounds_half_up_and_stands_still_outside_the_month() -> None:
    month = Month(2026, 9)
    # 79.99 by day 22 of 30: 109.0773 -> 109.08
    assert month.pace(7999, date(2026, 9, 22)) == 10908
    assert month.pace(7999, date(2026, 10, 5)) == 7999  # a past month: what was spent
    assert month.pace(7999, date(2026, 8, 5)) == 7999  # not begun: what is already recorded


def test_key_of_a_date_or_iso_string() -> None:
    assert Month.key_of(date(2026, 3, 9)) == "2026-03"
    assert Month.key_of("2026-03-09") == "2026-03"
