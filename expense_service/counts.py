"""A tally of each account's entries: how many fall on each day, and per month, kind and
category how many and how much. List pages find the few days they show from it (the embedded
server reads every match of a count and of a sort + limit, so a page that asked the server would
read the whole account), and the month summary and year totals are read from it instead of
aggregated.

Kept exact, in the transaction of every write of an expense (``change``): one more update per
write. Where it is kept, and why so:

- In shard documents, one per account, year and shard, the reader summing them. One document
  per account (tried first, on the profile) or per account and month makes concurrent writes of
  one user collide: 50 simultaneous transactions of one user, each inserting an entry and
  adding to one counter document, took 383-394 attempts and 0.6-1.0 s at the median, against
  50 attempts and 30-70 ms with no counter (SecantusDB, this machine). Spread at random over 16
  shards, 93-118 attempts and 0.1-0.5 s; over 32, 66-84 and 50-70 ms. So a write takes a shard
  no other write of the same user in this process holds (``writing``): shard 0 when it is
  alone, so an account written one entry at a time keeps one document a year, and a burst
  spreads over up to ``SHARDS`` (writes in another replica may collide and retry).
- Not kept later by the service's own consumer of its expense events: no conflict with the
  request's transaction, but the tally would lag the list it pages, and a page cut from a
  lagging tally can repeat or skip an entry and show a wrong total; nothing cheap tells a page
  which writes the tally has not seen yet.

The cost: one update per expense written (an import batch or a recurring catch-up: one per
batch), and a read of the account's shard documents per page (about 1 ms for a year's).
Accounts from before the tally are counted once at start (``backfill``); ``COUNTED`` marks an
account whose tally is complete, and only such a tally is used.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from shared.mongo import Database, Document
from shared.uow import Transactions, UnitOfWork

SHARDS = 32
COLLECTION = "entry_counts"
COUNTED = "counted"  # the mark document's one field: this account's tally is complete


_shard: ContextVar[int | None] = ContextVar("tally_shard", default=None)
_in_use: dict[str, Counter[int]] = {}


@contextlib.contextmanager
def writing(user_id: str) -> Iterator[None]:
    """Chooses the shard the writes of the transaction run inside it add to: the lowest one no
    other write of this user in this process is using (shard 0 for one write at a time, so an
    account written one entry at a time keeps one document a year), a random one when all are
    taken. Writes of one user in other processes may still pick the same shard: they conflict
    and retry."""
    in_use = _in_use.setdefault(user_id, Counter())
    free = [k for k in range(SHARDS) if not in_use[k]]
    shard = free[0] if free else random.randrange(SHARDS)  # noqa: S311 - spreading, not secret
    in_use[shard] += 1
    token = _shard.set(shard)
    try:
        yield
    finally:
        _shard.reset(token)
        in_use[shard] -= 1
        if not +in_use:
            del _in_use[user_id]


def _mark_id(user_id: str) -> str:
    return f"{user_id}:{COUNTED}"


def _category_key(category: str) -> str:
    # A category may hold '.', which a field path may not; '%' never occurs in one.
    return category.replace(".", "%2E")


def _category_of(key: str) -> str:
    return key.replace("%2E", ".")


def contribution(doc: Mapping[str, Any]) -> Counter[tuple[int, str]]:
    """What one stored expense adds to its year's tally: (year, field path) -> amount."""
    day = doc["date"]
    year, month, day_of_month = int(day[:4]), day[5:7], day[8:10]
    cell = f"cells.{month}.{doc['kind']}.{_category_key(doc['category'])}"
    return Counter(
        {
            (year, f"days.{month}{day_of_month}"): 1,
            (year, f"{cell}.n"): 1,
            (year, f"{cell}.c"): doc["base_amount_cents"],
        }
    )


def change(
    uow: UnitOfWork,
    user_id: str,
    removed: Iterable[Mapping[str, Any]] = (),
    added: Iterable[Mapping[str, Any]] = (),
) -> None:
    """Takes ``removed`` expenses (as they were) out of the tally and puts ``added`` ones in,
    in ``uow``: one write to one shard per year touched, queued (it goes with the unit of
    work's other writes in one round trip), none if nothing counted changed (a new
    description, say)."""
    delta: Counter[tuple[int, str]] = Counter()
    for doc in added:
        delta.update(contribution(doc))
    for doc in removed:
        delta.subtract(contribution(doc))
    by_year: dict[int, dict[str, int]] = {}
    for (year, path), amount in delta.items():
        if amount:
            by_year.setdefault(year, {})[path] = amount
    if not by_year:
        return
    shard = _shard.get()
    if shard is None:
        shard = random.randrange(SHARDS)  # noqa: S311 - spreading, not secret
    for year, incs in by_year.items():
        uow.queue_update(
            uow.db[COLLECTION],
            {"_id": f"{user_id}:{year}:{shard}"},
            {"$inc": incs, "$set": {"user_id": user_id, "year": year}},
            upsert=True,
        )


async def mark_counted(uow: UnitOfWork, user_id: str) -> None:
    """A new account: its tally is complete from its first entry on."""
    await uow.db[COLLECTION].update_one(
        {"_id": _mark_id(user_id)},
        {"$set": {"user_id": user_id, COUNTED: True}},
        upsert=True,
        session=uow.session,
    )


async def create_indexes(db: Database) -> None:
    await db[COLLECTION].create_index([("user_id", ASCENDING)])


@dataclass
class Tally:
    """An account's tally, summed over its shards."""

    days: dict[str, int] = field(default_factory=dict)  # ISO date -> entries that day
    # (month "YYYY-MM", kind, category) -> (entries, cents in the user's currency)
    cells: dict[tuple[str, str, str], tuple[int, int]] = field(default_factory=dict)

    def add(self, doc: Document) -> None:
        year = doc["year"]
        for key, n in doc.get("days", {}).items():
            day = f"{year:04d}-{key[:2]}-{key[2:]}"
            self.days[day] = self.days.get(day, 0) + n
        for month, kinds in doc.get("cells", {}).items():
            for kind, categories in kinds.items():
                for key, sums in categories.items():
                    cell = (f"{year:04d}-{month}", kind, _category_of(key))
                    n, cents = self.cells.get(cell, (0, 0))
                    self.cells[cell] = (n + sums.get("n", 0), cents + sums.get("c", 0))


async def read(
    db: Database,
    user_id: str,
    session: AsyncClientSession | None = None,
    parts: tuple[str, ...] = ("days", "cells"),
) -> Tally | None:
    """The account's tally (only its ``parts``: a page needs the days, a summary the cells),
    or None while it is not known to be complete (an account from before the tally, until
    ``backfill`` has counted it)."""
    tally = Tally()
    counted = False
    fields = {"year": 1, COUNTED: 1, **dict.fromkeys(parts, 1)}
    async for doc in db[COLLECTION].find({"user_id": user_id}, fields, session=session):
        if doc["_id"] == _mark_id(user_id):
            counted = bool(doc.get(COUNTED))
        else:
            tally.add(doc)
    return tally if counted else None


async def recount(uow: UnitOfWork, user_id: str) -> None:
    """Counts the account's expenses afresh, in ``uow``, and marks its tally complete. The
    shard documents are replaced by one per year; a concurrent write to a shard this rewrites
    conflicts and retries, and one to a shard it does not see adds to a tally that did not
    count it, so the result is exact either way."""
    per_year: dict[int, Counter[str]] = {}
    async for doc in uow.db.expenses.find(
        {"user_id": user_id},
        {"date": 1, "kind": 1, "category": 1, "base_amount_cents": 1},
        session=uow.session,
    ):
        for (year, path), amount in contribution(doc).items():
            per_year.setdefault(year, Counter())[path] += amount
    await uow.db[COLLECTION].delete_many({"user_id": user_id}, session=uow.session)
    documents: list[Document] = [
        {"_id": f"{user_id}:{year}:0", "user_id": user_id, "year": year, **_nested(paths)}
        for year, paths in per_year.items()
    ]
    documents.append({"_id": _mark_id(user_id), "user_id": user_id, COUNTED: True})
    await uow.db[COLLECTION].insert_many(documents, session=uow.session)


def _nested(paths: Mapping[str, int]) -> Document:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``, as ``$inc`` on those paths would have stored it."""
    root: Document = {}
    for path, amount in paths.items():
        *parents, leaf = path.split(".")
        node = root
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = amount
    return root


async def backfill(db: Database, transactions: Transactions) -> int:
    """Counts, once, the accounts whose tally is not complete (accounts from before it), each
    in one transaction with its expenses. Returns how many."""
    counted = {doc["user_id"] async for doc in db[COLLECTION].find({COUNTED: True}, {"user_id": 1})}
    done = 0
    async for profile in db.users.find(
        {"deleted": {"$ne": True}, "email": {"$exists": True}}, {"_id": 1}
    ):
        if profile["_id"] in counted:
            continue

        async def count(uow: UnitOfWork, user_id: str = profile["_id"]) -> None:
            await recount(uow, user_id)

        for attempt in range(3):
            try:
                await transactions.run(count)
                break
            except DuplicateKeyError:  # a write created a shard this inserts: count again
                if attempt == 2:
                    raise
        done += 1
    return done


# -- where a page lies --------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The whole days a page of a date-sorted list falls in (``first``..``last``, inclusive;
    None: the page is past the end), how many entries they hold and how many of those come
    before the page, and the list's total."""

    total: int
    first: str | None
    last: str | None
    held: int
    skip: int


def window(
    days: Mapping[str, int],
    lowest: date | None,
    highest: date | None,
    descending: bool,
    limit: int,
    offset: int,
) -> Window:
    """Where entries ``offset``..``offset + limit`` of the list of every entry between
    ``lowest`` and ``highest`` (inclusive, None: open), sorted by date, lie: the days from the
    one holding the first of them to the one holding the last (or the list's last day). Sorted
    by date and then ``_id``, the page is exactly those days' entries from ``skip`` on."""
    low = lowest.isoformat() if lowest else None
    high = highest.isoformat() if highest else None
    listed = sorted(
        (
            day
            for day, n in days.items()
            if n > 0 and (low is None or day >= low) and (high is None or day <= high)
        ),
        reverse=descending,
    )
    total = sum(days[day] for day in listed)
    if offset >= total:
        return Window(total, None, None, 0, 0)
    start, before = 0, 0
    while before + days[listed[start]] <= offset:
        before += days[listed[start]]
        start += 1
    skip = offset - before
    end, inside = start, days[listed[start]]
    while inside - skip < limit and end + 1 < len(listed):
        end += 1
        inside += days[listed[end]]
    first, last = sorted((listed[start], listed[end]))
    return Window(total, first, last, inside, skip)


def window_dates(found: Window) -> dict[str, str]:
    """The window as the list query's half-open date condition."""
    assert found.first is not None
    assert found.last is not None
    after = date.fromisoformat(found.last) + timedelta(days=1)
    return {"$gte": found.first, "$lt": after.isoformat()}
