"""The tally's pure parts: what an expense adds, and where a page lies (against full sorting)."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import date, timedelta

import pytest

from expense_service import counts
from expense_service.counts import Tally, contribution, window, window_dates

Row = tuple[str, str]  # (ISO date, _id)


def _entries(rng: random.Random) -> list[Row]:
    """Entries over a few months, some days crowded, many empty, ties on a day broken by _id."""
    start = date(2025, 11, 20)
    rows = []
    for _ in range(rng.choice((0, 1, 7, 60, 400))):
        day = start + timedelta(days=int(rng.expovariate(1 / 25)) % 120)
        rows.append((day.isoformat(), str(uuid.UUID(int=rng.getrandbits(128)))))
    return rows


def _cut(rows: list[Row], first: str, last_exclusive: str, descending: bool) -> list[Row]:
    """What the window query returns before skip and limit: its days' entries, sorted."""
    inside = [r for r in rows if first <= r[0] < last_exclusive]
    return sorted(inside, reverse=descending)


@pytest.mark.parametrize("seed", range(40))
def test_a_window_page_is_the_same_page_as_full_sorting(seed: int) -> None:
    rng = random.Random(seed)
    rows = _entries(rng)
    days = Counter(day for day, _ in rows)
    for _ in range(30):
        descending = rng.random() < 0.5
        lowest = (
            date(2025, 11, 20) + timedelta(days=rng.randrange(130)) if rng.random() < 0.4 else None
        )
        highest = (
            (lowest or date(2025, 11, 10)) + timedelta(days=rng.randrange(130))
            if rng.random() < 0.4
            else None
        )
        limit = rng.choice((1, 2, 5, 50, 200))
        in_range = [
            r
            for r in rows
            if (lowest is None or r[0] >= lowest.isoformat())
            and (highest is None or r[0] <= highest.isoformat())
        ]
        offset = rng.choice((0, 1, limit, len(in_range) - 1, len(in_range), len(in_range) + 7))
        offset = max(0, offset)
        expected = sorted(in_range, reverse=descending)[offset : offset + limit]

        found = window(days, lowest, highest, descending, limit, offset)

        assert found.total == len(in_range)
        if found.first is None:
            assert expected == []
            assert offset >= len(in_range)
            continue
        dates = window_dates(found)
        page = _cut(rows, dates["$gte"], dates["$lt"], descending)[found.skip : found.skip + limit]
        assert page == expected
        # The window is no wider than the days the page shows.
        shown = [day for day, _ in expected]
        assert (found.first, found.last) == (min(shown), max(shown))


def test_a_window_covers_whole_days_and_skips_within_the_first() -> None:
    days = {"2026-01-01": 3, "2026-01-02": 0, "2026-01-03": 4, "2026-01-05": 2}
    # Newest first: 05 (2), 03 (4), 01 (3). Entries 3..6 lie in 03 (from its 2nd) and 01.
    found = window(days, None, None, True, 4, 3)
    assert (found.total, found.first, found.last, found.skip) == (9, "2026-01-01", "2026-01-03", 1)
    assert window_dates(found) == {"$gte": "2026-01-01", "$lt": "2026-01-04"}
    # A date range counts only its days; past its end there is nothing to read.
    ranged = window(days, date(2026, 1, 2), date(2026, 1, 4), False, 50, 0)
    assert (ranged.total, ranged.first, ranged.last, ranged.skip) == (
        4,
        "2026-01-03",
        "2026-01-03",
        0,
    )
    assert window(days, None, None, False, 50, 9).first is None


def test_an_expense_adds_its_day_and_its_month_kind_and_category() -> None:
    doc = {
        "date": "2026-06-14",
        "kind": "expense",
        "category": "st. pauli",
        "base_amount_cents": 1250,
    }
    assert contribution(doc) == Counter(
        {
            (2026, "days.0614"): 1,
            (2026, "cells.06.expense.st%2E pauli.n"): 1,
            (2026, "cells.06.expense.st%2E pauli.c"): 1250,
        }
    )


def test_shards_sum_into_one_tally() -> None:
    tally = Tally()
    tally.add(
        {
            "year": 2026,
            "days": {"0614": 2},
            "cells": {"06": {"expense": {"a%2Eb": {"n": 2, "c": 300}}}},
        }
    )
    tally.add(
        {
            "year": 2026,
            "days": {"0614": -1, "0615": 1},
            "cells": {"06": {"expense": {"a%2Eb": {"n": 1, "c": 5}}}},
        }
    )
    assert tally.days == {"2026-06-14": 1, "2026-06-15": 1}
    assert tally.cells == {("2026-06", "expense", "a.b"): (3, 305)}


def test_nested_documents_match_the_paths_inc_writes() -> None:
    assert counts._nested({"days.0614": 2, "cells.06.expense.food.n": 1}) == {
        "days": {"0614": 2},
        "cells": {"06": {"expense": {"food": {"n": 1}}}},
    }


def test_a_lone_write_takes_shard_0_and_concurrent_ones_take_free_shards() -> None:
    with counts.writing("u"):
        assert counts._shard.get() == 0
        with counts.writing("u"), counts.writing("other user"):
            assert counts._shard.get() == 0  # the other user's own shard 0
        with counts.writing("u"):
            assert counts._shard.get() == 1
            with counts.writing("u"):
                assert counts._shard.get() == 2
        with counts.writing("u"):
            assert counts._shard.get() == 1  # freed again
    assert counts._shard.get() is None
    assert counts._in_use == {}
    held = [counts.writing("u") for _ in range(counts.SHARDS + 3)]
    for context in held:
        context.__enter__()
    in_use = counts._in_use["u"]
    assert set(in_use) == set(range(counts.SHARDS))  # every shard, then random ones again
    assert in_use.total() == counts.SHARDS + 3
    for context in reversed(held):
        context.__exit__(None, None, None)
    assert counts._in_use == {}
