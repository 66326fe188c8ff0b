"""List pages and month totals from the tally, against the plain answers of the database
(a full sort, an aggregation), on a real Mongo-wire server, after writes of every kind."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from expense_service import counts, listing, reports
from expense_service.models import ExpenseFields, Kind, SortOrder
from expense_service.storage import ExpenseFilter, sort_spec, totals_by
from shared.uow import UnitOfWork
from tests.expense_service.conftest import Books

CATEGORIES = ("food", "travel", "st. pauli", "bills")
DAYS = [date(2025, 12, 1) + timedelta(days=n * 9) for n in range(14)]  # two years, few days


def _body(rng: random.Random) -> ExpenseFields:
    return ExpenseFields.model_validate(
        {
            "amount": f"{rng.choice((1, 5, 5, 12, 40, 99))}.{rng.randrange(100):02d}",
            "category": rng.choice(CATEGORIES),
            "description": rng.choice(("coffee", "Coffee beans", "train", "rent", "")),
            "date": rng.choice(DAYS).isoformat(),
            "tags": rng.choice(([], ["work"], ["work", "trip"])),
            "kind": rng.choice(("expense", "expense", "income")),
        }
    )


async def _write_at_random(books: Books, rng: random.Random) -> None:
    ledger, user = books.ledger, books.user
    for _ in range(60):
        await ledger.create(user, _body(rng), None)
    await ledger.import_rows(user, [(n + 2, _body(rng)) for n in range(90)])
    ids = [doc["_id"] async for doc in books.mongo.db.expenses.find({}, {"_id": 1})]
    for expense_id in rng.sample(ids, 25):  # new dates, amounts, categories, kinds
        current = await ledger.owned(user.user_id, expense_id)
        await ledger.replace(user, current, await ledger.stored_fields(user.user_id, _body(rng)))
    for expense_id in rng.sample(ids, 20):
        try:
            await ledger.delete(user.user_id, expense_id)
        except Exception:  # noqa: S112 - replaced above and not found is fine; it is gone
            continue
    pauli = await books.mongo.db.categories.find_one({"key": "st. pauli"})
    assert pauli is not None
    await ledger.delete_category(user.user_id, pauli["_id"], "bills")


def _filters(rng: random.Random) -> ExpenseFilter:
    choice = rng.randrange(8)
    low = rng.choice(DAYS) - timedelta(days=rng.randrange(3))
    return [
        ExpenseFilter(),
        ExpenseFilter(month=rng.choice(DAYS).isoformat()[:7]),
        ExpenseFilter(date_from=low),
        ExpenseFilter(date_from=low, date_to=low + timedelta(days=rng.randrange(60))),
        ExpenseFilter(date_to=low),
        ExpenseFilter(category=rng.choice(("food", "bills"))),
        ExpenseFilter(q="coffee", kind=Kind.EXPENSE),
        ExpenseFilter(tag="work", min_amount_cents=500, max_amount_cents=4000),
    ][choice]


async def test_every_page_is_the_full_sorts_page(books: Books) -> None:
    rng = random.Random(7)
    await _write_at_random(books, rng)
    db, user_id = books.mongo.db, books.user.user_id
    checked = 0
    for _ in range(120):
        filters = _filters(rng)
        sort = rng.choice(list(SortOrder))
        limit = rng.choice((1, 3, 10, 50))
        everything = [
            doc["_id"]
            async for doc in db.expenses.find(filters.query(user_id)).sort(sort_spec(sort))
        ]
        for offset in {0, 1, limit, len(everything) - 2, len(everything), len(everything) + 5}:
            if offset < 0:
                continue
            page = await listing.page(db, books.transactions, user_id, filters, sort, limit, offset)
            assert page.total == len(everything), (filters, sort, offset)
            assert [e.id for e in page.items] == everything[offset : offset + limit], (
                filters,
                sort,
                limit,
                offset,
            )
            checked += 1
    assert checked > 500


async def test_month_and_year_totals_from_the_tally_are_the_aggregations(books: Books) -> None:
    await _write_at_random(books, random.Random(11))
    db, user_id = books.mongo.db, books.user.user_id
    for kind in Kind:
        for month in {day.isoformat()[:7] for day in DAYS} | {"2024-01"}:
            summary = await reports.summary(db, user_id, month, kind)
            rows = await totals_by(db, user_id, ExpenseFilter(month=month, kind=kind), "category")
            assert {c.category: (c.total, c.count) for c in summary.categories} == {
                category: (Decimal(total) / 100, count) for category, (total, count) in rows.items()
            }
        for year in (2025, 2026, 2027):
            monthly = await reports.monthly(db, user_id, year, kind)
            year_filter = ExpenseFilter(date_from=date(year, 1, 1), date_to=date(year, 12, 31))
            rows = await totals_by(
                db, user_id, ExpenseFilter(**{**year_filter.__dict__, "kind": kind}), "month"
            )
            assert {m.month: (m.total, m.count) for m in monthly.months if m.count} == {
                month: (Decimal(total) / 100, count) for month, (total, count) in rows.items()
            }


async def _fresh_tally(books: Books) -> counts.Tally:
    async def recount(uow: UnitOfWork) -> None:
        await counts.recount(uow, books.user.user_id)

    await books.transactions.run(recount)
    tally = await counts.read(books.mongo.db, books.user.user_id)
    assert tally is not None
    return tally


def _nonzero(tally: counts.Tally) -> tuple[dict[str, int], dict[Any, tuple[int, int]]]:
    return (
        {day: n for day, n in tally.days.items() if n},
        {cell: sums for cell, sums in tally.cells.items() if sums != (0, 0)},
    )


async def test_the_tally_kept_by_writes_is_a_fresh_count(books: Books) -> None:
    await _write_at_random(books, random.Random(3))
    kept = await counts.read(books.mongo.db, books.user.user_id)
    assert kept is not None
    assert _nonzero(kept) == _nonzero(await _fresh_tally(books))


async def test_accounts_from_before_are_counted_once_at_start(books: Books) -> None:
    db, user_id = books.mongo.db, books.user.user_id
    await _write_at_random(books, random.Random(5))
    expected = _nonzero(await _fresh_tally(books))
    await db[counts.COLLECTION].delete_many({"user_id": user_id})  # as before the tally
    assert await counts.read(db, user_id) is None
    page = await listing.page(
        db, books.transactions, user_id, ExpenseFilter(), SortOrder.DATE_DESC, 5, 0
    )
    assert page.total == await db.expenses.count_documents({"user_id": user_id})

    assert await counts.backfill(db, books.transactions) == 1
    assert await counts.backfill(db, books.transactions) == 0  # once
    backfilled = await counts.read(db, user_id)
    assert backfilled is not None
    assert _nonzero(backfilled) == expected


async def test_a_tally_gone_wrong_is_caught_by_the_page_and_counted_afresh(books: Books) -> None:
    db, user_id = books.mongo.db, books.user.user_id
    await _write_at_random(books, random.Random(9))
    expected = _nonzero(await _fresh_tally(books))
    newest = DAYS[-1]
    await db[counts.COLLECTION].update_one(
        {"_id": f"{user_id}:{newest.year}:0"},
        {"$inc": {f"days.{newest:%m%d}": 3}},  # three entries that do not exist
    )
    everything = [
        doc["_id"]
        async for doc in db.expenses.find({"user_id": user_id}).sort(sort_spec(SortOrder.DATE_DESC))
    ]
    page = await listing.page(
        db, books.transactions, user_id, ExpenseFilter(), SortOrder.DATE_DESC, 50, 0
    )
    assert [e.id for e in page.items] == everything[:50]
    assert page.total == len(everything)
    healed = await counts.read(db, user_id)
    assert healed is not None
    assert _nonzero(healed) == expected
