"""An import reads its file one batch at a time, on a real Mongo-wire server."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from expense_service.csv_io import Entry, read_csv
from expense_service.ledger import IMPORT_BATCH, ImportOutcome
from expense_service.models import ImportProblem
from tests.expense_service.conftest import Books


async def test_rows_are_read_one_batch_ahead_of_the_writes(books: Books) -> None:
    rows = IMPORT_BATCH * 2 + IMPORT_BATCH // 2
    lines = ["date,amount,category,description"]
    lines += [f"2026-03-{1 + n % 28:02d},{1 + n % 50}.25,food,row {n}" for n in range(rows)]
    lines[7] = "2026-03-01,-5,food,negative"  # an invalid row, reported, not imported
    csv_file = read_csv("\n".join(lines) + "\n", max_rows=rows)
    drawn = 0

    def entries() -> Iterator[Entry]:
        nonlocal drawn
        for entry in csv_file.entries():
            drawn += 1
            yield entry

    seen: list[tuple[int, int, int]] = []  # rows read, rows drawn, expenses stored

    async def progress(outcome: ImportOutcome, read: int) -> None:
        stored = await books.mongo.db.expenses.count_documents({})
        seen.append((read, drawn, stored))
        assert stored == outcome.imported

    outcome = await books.ledger.import_rows(books.user, entries(), progress)

    assert csv_file.rows == rows
    assert seen == [
        (IMPORT_BATCH, IMPORT_BATCH, IMPORT_BATCH - 1),
        (2 * IMPORT_BATCH, 2 * IMPORT_BATCH, 2 * IMPORT_BATCH - 1),
        (rows, rows, rows - 1),
    ]
    assert (outcome.imported, [p.line for p in outcome.problems]) == (rows - 1, [8])


async def test_a_category_is_created_with_the_first_batch_that_files_a_row_under_it(
    books: Books,
) -> None:
    first = [(n + 2, f"2026-03-01,{n + 1},food,x{n}") for n in range(IMPORT_BATCH)]
    second = [(IMPORT_BATCH + 2, "2026-03-02,1,boats,a boat")]
    text = "date,amount,category,description\n" + "\n".join(r for _, r in first + second)
    csv_file = read_csv(text, max_rows=IMPORT_BATCH + 1)
    categories = books.mongo.db.categories
    stored_after_first: list[bool] = []

    async def progress(outcome: ImportOutcome, read: int) -> None:
        stored_after_first.append(await categories.find_one({"key": "boats"}) is not None)

    outcome = await books.ledger.import_rows(books.user, csv_file.entries(), progress)

    assert stored_after_first == [False, True]
    assert outcome.created_categories == ["boats"]
    assert outcome.imported == IMPORT_BATCH + 1


def test_an_unreadable_row_is_counted_reported_and_ends_the_file() -> None:
    too_long = "x" * (csv.field_size_limit() + 1)
    text = f"date,amount,note\n2026-01-01,1,a\n\n2026-01-02,2,{too_long}\n2026-01-03,3,c\n"
    csv_file = read_csv(text, 10)
    entries = list(csv_file.entries())
    assert csv_file.rows == 2  # the row after it is not read
    assert [line for line, _ in entries] == [2, 4]
    problem = entries[-1][1]
    assert isinstance(problem, ImportProblem)
    assert problem.detail.startswith("unreadable CSV")
