"""CSV export (streamed, constant memory) and import (parsed and validated row by row).

Cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR) are written
with a leading apostrophe, the usual neutralisation; import removes it again, so an exported
file imports back to the same expenses.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from typing import Any

from pydantic import ValidationError

from expense_service.models import ExpenseFields, ImportProblem
from shared.money import from_cents
from shared.mongo import Document

EXPORT_COLUMNS = [
    "id",
    "date",
    "kind",
    "amount",
    "currency",
    "base_amount",
    "category",
    "description",
    "tags",
    "created_at",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TAG_SEPARATOR = ";"
FLUSH_BYTES = 64 * 1024

# Header names (case-insensitive) people's files use, to our fields.
COLUMN_NAMES = {
    "date": "date",
    "day": "date",
    "amount": "amount",
    "value": "amount",
    "category": "category",
    "description": "description",
    "note": "description",
    "notes": "description",
    "memo": "description",
    "payee": "description",
    "tags": "tags",
    "tag": "tags",
    "labels": "tags",
    "kind": "kind",
    "type": "kind",
    "currency": "currency",
    "base_amount": "base_amount",
}
REQUIRED_COLUMNS = {"date", "amount"}


def neutralise(cell: str) -> str:
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell


def restore(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def export_row(doc: Document) -> list[str]:
    return [
        doc["_id"],
        doc["date"],
        doc["kind"],
        str(from_cents(doc["amount_cents"])),
        doc["currency"],
        str(from_cents(doc["base_amount_cents"])),
        neutralise(doc["category"]),
        neutralise(doc["description"]),
        neutralise(TAG_SEPARATOR.join(doc["tags"])),
        doc["created_at"].isoformat(),
    ]


async def export_csv(documents: AsyncIterator[Document]) -> AsyncIterator[str]:
    """RFC 4180 CSV (CRLF, quotes doubled), yielded in pieces of about 64 KB."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    async for doc in documents:
        writer.writerow(export_row(doc))
        if buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


class CsvFormatError(ValueError):
    """The file as a whole cannot be read (no header, missing required columns)."""


def parse_csv(
    text: str, max_rows: int
) -> tuple[list[tuple[int, ExpenseFields]], list[ImportProblem]]:
    """Valid rows with their line numbers, and a problem for every invalid one."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFormatError("the file is empty") from None
    except csv.Error as exc:
        raise CsvFormatError(f"line 1: {exc}") from None
    columns = [COLUMN_NAMES.get(name.strip().lower()) for name in header]
    missing = REQUIRED_COLUMNS - set(columns)
    if missing:
        raise CsvFormatError(
            f"the header must name the columns {sorted(REQUIRED_COLUMNS)}; missing "
            f"{sorted(missing)} (understood: {sorted(set(COLUMN_NAMES))})"
        )
    rows: list[tuple[int, ExpenseFields]] = []
    problems: list[ImportProblem] = []
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(ImportProblem(line=reader.line_num, detail=f"unreadable CSV: {exc}"))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) + len(problems) >= max_rows:
            raise CsvFormatError(f"the file has more than {max_rows} rows")
        try:
            rows.append((line, ExpenseFields.model_validate(_fields(columns, cells))))
        except ValidationError as exc:
            problems.append(ImportProblem(line=line, detail=describe(exc)))
    return rows, problems


def _fields(columns: list[str | None], cells: Iterable[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for column, cell in zip(columns, cells, strict=False):
        value = restore(cell.strip())
        if column is None or value == "":
            continue
        fields[column] = (
            [tag for tag in value.split(TAG_SEPARATOR) if tag.strip()]
            if column == "tags"
            else value
        )
    fields.setdefault("category", "other")
    return fields


def describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'row'}: {problem['msg']}"
        for problem in error.errors()
    )
