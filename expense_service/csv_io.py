"""CSV export (streamed, constant memory) and import (parsed and validated row by row).

Cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR) are written
with a leading apostrophe, the usual neutralisation; import removes it again, so an exported
file imports back to the same expenses.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

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

# Header names (case-insensitive, spaces and underscores alike) people's files use, to our
# fields: our own export, Firefly III's export, and the usual columns of bank statements.
COLUMN_NAMES = {
    name: field
    for field, names in {
        "date": (
            "date",
            "day",
            "booking date",
            "transaction date",
            "posting date",
            "value date",
            "buchungstag",
            "buchungsdatum",
            "datum",
            "date operation",
            "fecha",
            "data",
        ),
        "amount": ("amount", "value", "betrag", "montant", "importe", "importo", "bedrag"),
        "category": ("category", "kategorie", "categorie", "categoria", "catégorie"),
        "description": (
            "description",
            "note",
            "notes",
            "memo",
            "payee",
            "details",
            "narrative",
            "merchant",
            "counterparty",
            "name",
            "verwendungszweck",
            "buchungstext",
            "libelle",
            "libellé",
            "concepto",
        ),
        "tags": ("tags", "tag", "labels"),
        "kind": ("kind", "type"),
        "currency": ("currency", "currency code", "waehrung", "währung", "devise", "moneda"),
        "base_amount": ("base amount",),
    }.items()
    for name in names
}
# A "type" column's words for the two kinds (Firefly III: withdrawal, deposit).
KIND_WORDS = {
    "expense": "expense",
    "withdrawal": "expense",
    "debit": "expense",
    "income": "income",
    "deposit": "income",
    "credit": "income",
}
DELIMITERS = (",", ";", "\t", "|")
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


Decimal_ = Literal["point", "comma"]


Entry = tuple[int, ExpenseFields | ImportProblem]


@dataclass(frozen=True)
class CsvFile:
    """A file whose header and shape are checked, read row by row only when imported.

    Reading is two passes over the text: this one (``read_csv``) checks the header, counts the
    rows and detects the decimal mark and a bank statement's signs, which take every amount;
    ``entries`` then validates one row at a time. A 50,000-row file held as validated rows
    took about 50 MiB of the service's memory for the whole import; the text is 2-3 MB.
    """

    text: str
    columns: list[str | None]
    delimiter: str
    decimal: Decimal_
    signed: bool
    rows: int  # data rows, valid or not (blank lines are not rows)

    def entries(self) -> Iterator[Entry]:
        """Each row in file order: its line and its fields, or its line and what is wrong
        with it. A row the csv module cannot read (a field over its size limit) ends the
        file."""
        reader = _reader(self.text, self.delimiter)
        next(reader)  # the header
        for line, cells in _data_rows(reader):
            if isinstance(cells, csv.Error):
                yield line, ImportProblem(line=line, detail=f"unreadable CSV: {cells}")
                continue
            try:
                fields = _fields(self.columns, cells, self.decimal, self.signed)
                yield line, ExpenseFields.model_validate(fields)
            except ValidationError as exc:
                yield line, ImportProblem(line=line, detail=describe(exc))
            except ValueError as exc:
                yield line, ImportProblem(line=line, detail=str(exc))


def _reader(text: str, delimiter: str) -> Any:
    return csv.reader(lines_of(text), delimiter=delimiter)


def _data_rows(reader: Any) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """The rows after the header that are not blank, each with its line number; a row the csv
    module cannot read (a field over its size limit) as its error, and nothing after it."""
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, exc
            return
        if any(cell.strip() for cell in cells):
            yield reader.line_num, cells


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def lines_of(text: str) -> Iterator[str]:
    """The text's lines with their endings (\\n, \\r\\n or \\r, as ``newline=""`` reads them),
    one at a time: ``io.StringIO(text)`` would copy the text, at 4 bytes a character."""
    return (match.group() for match in _LINE.finditer(text))


def header_key(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).lower()


def detect_delimiter(first_line: str) -> str:
    """The candidate that splits the header line most often (a header's names rarely contain
    any of them); a comma when none does."""
    counts = {candidate: first_line.count(candidate) for candidate in DELIMITERS}
    best = max(counts, key=lambda candidate: counts[candidate])
    return best if counts[best] else ","


_COMMA_DECIMAL = re.compile(
    r"^[+-]?[0-9]{1,3}(?:[. \u00a0'][0-9]{3})*(?:,[0-9]+)?$|^[+-]?[0-9]+,[0-9]+$"
)
_POINT_DECIMAL = re.compile(r"^[+-]?[0-9]{1,3}(?:[, \u00a0'][0-9]{3})*(?:\.[0-9]+)?$")
_COMMA_HINT = re.compile(r"^[+-]?[0-9.\u00a0' ]*,[0-9]{1,2}$")


def detect_decimal(delimiter: str, comma_hinted: bool) -> Decimal_:
    """A decimal comma when the file separates fields with ';' (as spreadsheets do where the
    comma is the decimal mark) or any amount ends in a comma and one or two digits."""
    return "comma" if delimiter == ";" or comma_hinted else "point"


def normalise_amount(cell: str, decimal: Decimal_) -> str:
    """``1.234,56`` (comma) or ``1,234.56`` (point) to ``1234.56``; anything else unchanged,
    for the amount's own validation to refuse with its message."""
    cell = cell.strip()
    if decimal == "comma" and _COMMA_DECIMAL.match(cell):
        return re.sub(r"[. \u00a0']", "", cell).replace(",", ".")
    if decimal == "point" and _POINT_DECIMAL.match(cell):
        return re.sub(r"[, \u00a0']", "", cell)
    return cell


_DOTTED_DATE = re.compile(r"^([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})$")
_SLASHED_ISO = re.compile(r"^([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})$")


def normalise_date(cell: str) -> str:
    """ISO dates as they are; ``31.12.2026`` (day first, as European banks write) and
    ``2026/12/31`` to ISO. ``12/31/2026`` and ``31/12/2026`` stay ambiguous and are refused."""
    if match := _DOTTED_DATE.match(cell):
        day, month, year = match.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    if match := _SLASHED_ISO.match(cell):
        year, month, day = match.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return cell


def read_csv(
    text: str, max_rows: int, decimal: Decimal_ | None = None, signed: bool | None = None
) -> CsvFile:
    """The file's shape, or CsvFormatError for a file that cannot be imported at all.

    The delimiter (, ; tab |) is detected from the header line, the decimal mark taken as
    declared or detected. Without a kind column, a file read as a bank statement (``signed``
    declared, or more than half of its amounts negative) has negative amounts as expenses and
    positive ones as income; otherwise a negative amount is an error, as in the API.
    """
    first_line = text.split("\n", 1)[0]
    delimiter = detect_delimiter(first_line)
    reader = _reader(text, delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFormatError("the file is empty") from None
    except csv.Error as exc:
        raise CsvFormatError(f"line 1: {exc}") from None
    columns = [COLUMN_NAMES.get(header_key(name)) for name in header]
    missing = REQUIRED_COLUMNS - set(columns)
    if missing:
        raise CsvFormatError(
            f"the header must name the columns {sorted(REQUIRED_COLUMNS)}; missing "
            f"{sorted(missing)} (read {header!r} with the delimiter {delimiter!r}; "
            f"understood names: {sorted(set(COLUMN_NAMES))})"
        )
    amount_at = columns.index("amount")
    rows = amounts = negative = 0
    comma_hinted = False
    for _, cells in _data_rows(reader):
        rows += 1
        if isinstance(cells, csv.Error):
            continue  # an unreadable row, the last: entries() reports it
        if rows > max_rows:
            raise CsvFormatError(f"the file has more than {max_rows} rows")
        if len(cells) > amount_at:
            amount = cells[amount_at].strip()
            amounts += 1
            negative += amount.startswith("-")
            comma_hinted = comma_hinted or bool(_COMMA_HINT.match(amount))
    if signed is None:
        signed = negative * 2 > amounts
    return CsvFile(
        text=text,
        columns=columns,
        delimiter=delimiter,
        decimal=decimal or detect_decimal(delimiter, comma_hinted),
        signed=signed and "kind" not in columns,
        rows=rows,
    )


def _fields(
    columns: list[str | None], cells: Iterable[str], decimal: Decimal_, signed: bool
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for column, cell in zip(columns, cells, strict=False):
        value = restore(cell.strip())
        if column is None or value == "":
            continue
        if column == "tags":
            fields[column] = [tag for tag in value.split(TAG_SEPARATOR) if tag.strip()]
        elif column in ("amount", "base_amount"):
            fields[column] = normalise_amount(value, decimal)
        elif column == "date":
            fields[column] = normalise_date(value)
        elif column == "kind":
            word = value.lower()
            if word not in KIND_WORDS:
                raise ValueError(
                    f"kind: {value!r} is neither an expense nor an income "
                    f"(understood: {sorted(KIND_WORDS)})"
                )
            fields[column] = KIND_WORDS[word]
        else:
            fields[column] = value
    amount = fields.get("amount")
    if isinstance(amount, str) and (signed or "kind" in fields):
        # A bank statement: money out is negative, money in positive. With a kind column
        # (Firefly III's type), the kind says which, and the sign is only the direction.
        if signed:
            fields["kind"] = "expense" if amount.startswith("-") else "income"
        fields["amount"] = amount.lstrip("-+")
        if isinstance(fields.get("base_amount"), str):
            fields["base_amount"] = fields["base_amount"].lstrip("-+")
    # No category: the import files it under the suggestion when confident, else "other".
    return fields


def describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'row'}: {problem['msg']}"
        for problem in error.errors()
    )
