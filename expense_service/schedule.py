"""When a recurring rule's occurrences fall: pure date arithmetic, no storage.

Occurrence ``n`` is counted from the rule's start date, never from the previous occurrence, so a
monthly rule on the 31st falls on the last day of shorter months and comes back to the 31st
(31 Aug, 30 Sep, 31 Oct), and a yearly rule on 29 February falls on 28 February in common years.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from shared.types import MAX_YEAR


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"


def _clamped(year: int, month: int, day: int) -> date | None:
    if year > MAX_YEAR:
        return None
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Schedule:
    frequency: Frequency
    interval: int
    start: date
    end: date | None = None
    count: int | None = None

    def occurrence(self, index: int) -> date | None:
        """The date of occurrence ``index`` (0 is the start), or None past the rule's end."""
        if self.count is not None and index >= self.count:
            return None
        step = self.interval * index
        when: date | None
        match self.frequency:
            case Frequency.DAILY | Frequency.WEEKLY:
                days = step * (7 if self.frequency is Frequency.WEEKLY else 1)
                try:
                    when = self.start + timedelta(days=days)
                except OverflowError:
                    return None
            case Frequency.MONTHLY:
                years, month0 = divmod(self.start.month - 1 + step, 12)
                when = _clamped(self.start.year + years, month0 + 1, self.start.day)
            case Frequency.YEARLY:
                when = _clamped(self.start.year + step, self.start.month, self.start.day)
        if when is None or when.year > MAX_YEAR or (self.end is not None and when > self.end):
            return None
        return when

    def upcoming(self, index: int, n: int) -> list[date]:
        """Up to ``n`` dates from occurrence ``index`` on."""
        dates = []
        for i in range(index, index + n):
            when = self.occurrence(i)
            if when is None:
                break
            dates.append(when)
        return dates

    def due(self, index: int, today: date, most: int) -> list[tuple[int, date]]:
        """Occurrences from ``index`` on that fall on or before ``today``, at most ``most``."""
        found: list[tuple[int, date]] = []
        while len(found) < most:
            when = self.occurrence(index)
            if when is None or when > today:
                break
            found.append((index, when))
            index += 1
        return found

    def first_from(self, index: int, day: date) -> int:
        """The index of the first occurrence from ``index`` on that falls on or after ``day``
        (or past the end)."""
        while True:
            when = self.occurrence(index)
            if when is None or when >= day:
                return index
            index += 1
