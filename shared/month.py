"""One calendar month, the unit budgets, summaries and forecasts are kept in.

Months travel as ``YYYY-MM`` strings (in the API, in stored documents, as event fields); this
type is the one place their arithmetic is written: bounds, length, neighbours, the months before,
how much of a month has passed on a given day, and the month-end pace.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared.money import projected_cents


@dataclass(frozen=True, order=True)
class Month:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """``2026-11`` -> Month(2026, 11); a ValueError for anything else."""
        year, number = text.split("-")
        month = cls(int(year), int(number))
        if len(year) != 4 or len(number) != 2 or not 1 <= month.number <= 12:
            raise ValueError(f"not a month: {text!r}")
        return month

    @classmethod
    def of(cls, day: date | datetime) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def key_of(cls, day: date | datetime | str) -> str:
        """The ``YYYY-MM`` a date (or an ISO date string) falls in."""
        return str(cls.of(date.fromisoformat(day) if isinstance(day, str) else day))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.number:02d}"

    @property
    def first(self) -> date:
        return date(self.year, self.number, 1)

    @property
    def last(self) -> date:
        return date(self.year, self.number, self.days)

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.number)[1]

    def bounds(self) -> tuple[date, date]:
        """The first and last day, both inclusive."""
        return self.first, self.last

    def next(self) -> Month:
        return Month(self.year + self.number // 12, self.number % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.number == 1), (self.number - 2) % 12 + 1)

    def back(self, count: int) -> list[Month]:
        """The ``count`` months ending with this one, oldest first."""
        months = [self]
        while len(months) < count:
            months.append(months[-1].previous())
        return list(reversed(months))

    def elapsed(self, today: date) -> int:
        """Days of this month that have begun by ``today``: 0 before it, all of them after."""
        if today < self.first:
            return 0
        return self.days if today > self.last else today.day

    def days_left(self, today: date) -> int:
        """Days after ``today`` until the month ends (all of them before it starts)."""
        return self.days - self.elapsed(today)

    def pace(self, spent_cents: int, today: date) -> int:
        """Month-end spending at the pace so far, rounded half up to the cent."""
        return projected_cents(spent_cents, self.days, self.elapsed(today))

    def contains(self, day: date) -> bool:
        return self.first <= day <= self.last

    def day(self, number: int) -> date:
        return self.first + timedelta(days=number - 1)
