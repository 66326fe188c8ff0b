"""Occurrence dates of recurring rules (pure logic)."""

from __future__ import annotations

from datetime import date

import pytest

from expense_service.schedule import Frequency, Schedule


def dates(schedule: Schedule, n: int) -> list[str]:
    return [d.isoformat() for d in schedule.upcoming(0, n)]


def test_monthly_on_the_31st_falls_on_shorter_months_last_day_and_comes_back() -> None:
    rule = Schedule(Frequency.MONTHLY, 1, date(2025, 8, 31))
    assert dates(rule, 7) == [
        "2025-08-31",
        "2025-09-30",
        "2025-10-31",
        "2025-11-30",
        "2025-12-31",
        "2026-01-31",
        "2026-02-28",
    ]


def test_monthly_on_the_30th_in_a_leap_february() -> None:
    rule = Schedule(Frequency.MONTHLY, 1, date(2028, 1, 30))
    assert dates(rule, 3) == ["2028-01-30", "2028-02-29", "2028-03-30"]


def test_yearly_on_29_february_falls_on_28_february_in_common_years() -> None:
    rule = Schedule(Frequency.YEARLY, 1, date(2024, 2, 29))
    assert dates(rule, 5) == [
        "2024-02-29",
        "2025-02-28",
        "2026-02-28",
        "2027-02-28",
        "2028-02-29",
    ]


@pytest.mark.parametrize(
    ("frequency", "interval", "expected"),
    [
        (Frequency.DAILY, 3, ["2026-01-30", "2026-02-02", "2026-02-05"]),
        (Frequency.WEEKLY, 2, ["2026-01-30", "2026-02-13", "2026-02-27"]),
        (Frequency.MONTHLY, 2, ["2026-01-30", "2026-03-30", "2026-05-30"]),
        (Frequency.YEARLY, 4, ["2026-01-30", "2030-01-30", "2034-01-30"]),
    ],
)
def test_every_n_units(frequency: Frequency, interval: int, expected: list[str]) -> None:
    assert dates(Schedule(frequency, interval, date(2026, 1, 30)), 3) == expected


def test_count_and_end_date_end_a_rule() -> None:
    by_count = Schedule(Frequency.WEEKLY, 1, date(2026, 1, 1), count=3)
    assert len(by_count.upcoming(0, 10)) == 3
    assert by_count.occurrence(3) is None
    by_end = Schedule(Frequency.DAILY, 1, date(2026, 1, 1), end=date(2026, 1, 4))
    assert dates(by_end, 10) == ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]


def test_due_stops_at_today_and_at_the_batch_size() -> None:
    rule = Schedule(Frequency.DAILY, 1, date(2026, 1, 1))
    assert [i for i, _ in rule.due(0, date(2026, 1, 5), 100)] == [0, 1, 2, 3, 4]
    assert [i for i, _ in rule.due(2, date(2026, 1, 5), 2)] == [2, 3]
    assert rule.due(5, date(2026, 1, 5), 100) == []


def test_first_from_skips_what_fell_due_while_paused() -> None:
    rule = Schedule(Frequency.MONTHLY, 1, date(2026, 1, 15))
    assert rule.first_from(0, date(2026, 4, 16)) == 4  # 15 May
    assert rule.first_from(0, date(2026, 4, 15)) == 3  # 15 April itself


def test_a_rule_ends_before_the_last_year_dates_can_hold() -> None:
    rule = Schedule(Frequency.DAILY, 1000, date(9998, 1, 1))
    assert rule.occurrence(1) is None
