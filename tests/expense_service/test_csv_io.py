"""CSV reading and writing (pure logic)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import pytest

from expense_service.csv_io import (
    EXPORT_COLUMNS,
    CsvFile,
    CsvFormatError,
    export_row,
    lines_of,
    neutralise,
    read_csv,
    restore,
)
from expense_service.models import ExpenseFields, ImportProblem


@dataclass
class Parsed:
    """A file read to the end, as an import reads it."""

    file: CsvFile
    rows: list[tuple[int, ExpenseFields]]
    problems: list[ImportProblem]

    @property
    def delimiter(self) -> str:
        return self.file.delimiter

    @property
    def decimal(self) -> str:
        return self.file.decimal


def parse_csv(text: str, max_rows: int, decimal: Literal["point", "comma"] | None = None) -> Parsed:
    csv_file = read_csv(text, max_rows, decimal)
    parsed = Parsed(csv_file, [], [])
    for line, entry in csv_file.entries():
        if isinstance(entry, ImportProblem):
            assert entry.line == line
            parsed.problems.append(entry)
        else:
            parsed.rows.append((line, entry))
    return parsed


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_starters_are_neutralised_and_restored(cell: str) -> None:
    assert neutralise(cell) == "'" + cell
    assert restore(neutralise(cell)) == cell


@pytest.mark.parametrize("cell", ["lunch", "", "'quoted already", "a=b", "1-2"])
def test_ordinary_cells_pass_unchanged(cell: str) -> None:
    assert neutralise(cell) == cell
    assert restore(cell) == cell


def test_export_row_formats_money_and_neutralises() -> None:
    row = export_row(
        {
            "_id": "e1",
            "date": "2026-11-02",
            "kind": "expense",
            "amount_cents": 1050,
            "currency": "USD",
            "base_amount_cents": 1050,
            "category": "food",
            "description": "=cmd|' /C calc'!A0",
            "tags": ["a", "b"],
            "created_at": datetime(2026, 11, 2, tzinfo=UTC),
        }
    )
    assert row[3] == "10.50"
    assert row[7] == "'=cmd|' /C calc'!A0"
    assert row[8] == "a;b"


def test_rows_are_validated_with_their_line_numbers() -> None:
    text = (
        "amount,DATE,memo,Type\n"
        "1.50,2026-01-02,bus,expense\n"
        "x,2026-01-02,,\n"
        "\n"
        '2,2026-01-03,"two\nlines",income\n'
        "3,2026-13-01,,\n"
    )
    parsed = parse_csv(text, max_rows=100)
    rows, problems = parsed.rows, parsed.problems
    assert [(line, str(body.amount), body.kind.value) for line, body in rows] == [
        (2, "1.50", "expense"),
        (6, "2", "income"),
    ]
    assert rows[1][1].description == "two\nlines"
    assert rows[0][1].category is None  # filed by the ledger: a confident suggestion, or other
    assert [p.line for p in problems] == [3, 7]
    assert problems[0].detail.startswith("amount:")


def test_whole_file_problems() -> None:
    with pytest.raises(CsvFormatError, match="empty"):
        parse_csv("", max_rows=10)
    with pytest.raises(CsvFormatError, match="amount"):
        parse_csv("date,category\n", max_rows=10)
    with pytest.raises(CsvFormatError, match="more than 2 rows"):
        parse_csv("date,amount\n2026-01-01,1\n2026-01-01,1\n2026-01-01,1\n", max_rows=2)


def test_exported_file_parses_back() -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    writer.writerow(
        [
            "e1",
            "2026-11-02",
            "expense",
            "40.00",
            "USD",
            "36.80",
            "travel",
            "'-taxi",
            "a;b",
            "2026-11-02T00:00:00+00:00",
        ]
    )
    parsed = parse_csv(buffer.getvalue(), max_rows=10)
    [(line, body)] = parsed.rows
    assert parsed.problems == []
    assert (line, body.description, body.tags, str(body.base_amount)) == (
        2,
        "-taxi",
        ["a", "b"],
        "36.80",
    )


def test_semicolons_and_decimal_commas_of_european_banks() -> None:
    text = (
        "Buchungstag;Betrag;Kategorie;Verwendungszweck;Währung\n"
        "31.10.2026;-12,50;food;Bäckerei;EUR\n"
        "01.10.2026;-1.234,56;bills;Miete;EUR\n"
        "02.10.2026;2.500,00;other;Gehalt;EUR\n"
    )
    parsed = parse_csv(text, max_rows=10)
    assert (parsed.delimiter, parsed.decimal, parsed.problems) == (";", "comma", [])
    assert [
        (str(b.date), str(b.amount), b.kind.value, b.category, b.description, b.currency)
        for _, b in parsed.rows
    ] == [
        ("2026-10-31", "12.50", "expense", "food", "Bäckerei", "EUR"),
        ("2026-10-01", "1234.56", "expense", "bills", "Miete", "EUR"),
        ("2026-10-02", "2500.00", "income", "other", "Gehalt", "EUR"),
    ]


def test_decimal_comma_detected_or_declared_and_points_kept() -> None:
    comma = parse_csv('date,amount\n2026-10-01,"12,5"\n', max_rows=10)
    assert (comma.decimal, str(comma.rows[0][1].amount)) == ("comma", "12.5")
    point = parse_csv('date,amount\n2026-10-01,"1,234.50"\n2026-10-02,7\n', max_rows=10)
    assert (point.decimal, [str(b.amount) for _, b in point.rows]) == ("point", ["1234.50", "7"])
    declared = parse_csv("date\tamount\n2026-10-01\t1.234\n", max_rows=10, decimal="comma")
    assert (declared.delimiter, str(declared.rows[0][1].amount)) == ("\t", "1234")


def test_firefly_export_columns() -> None:
    text = (
        "date,amount,currency_code,description,category,type\n"
        "2026-10-03,-9.99,USD,Netflix,bills,withdrawal\n"
        "2026-10-04,3000,USD,Salary,other,deposit\n"
        "2026-10-05,100,USD,To savings,other,transfer\n"
    )
    parsed = parse_csv(text, max_rows=10)
    assert [(str(b.amount), b.kind.value) for _, b in parsed.rows] == [
        ("9.99", "expense"),
        ("3000", "income"),
    ]
    assert [p.line for p in parsed.problems] == [4]
    assert "transfer" in parsed.problems[0].detail


@pytest.mark.parametrize("cell", ["12/31/2026", "31/12/2026", "2026-13-01"])
def test_ambiguous_or_bad_dates_are_refused(cell: str) -> None:
    parsed = parse_csv(f"date,amount\n{cell},1\n", max_rows=10)
    assert parsed.rows == []
    assert parsed.problems[0].detail.startswith("date:")


@pytest.mark.parametrize(
    "text",
    [
        "a,b\r\nc,d\r\n",
        'a,"multi\r\nline"\nb,c',
        "old,mac\rline,endings\r",
        'q,"a\rb"\r\n\r\nlast,no newline',
        "",
        "\n\n",
    ],
)
def test_lines_are_split_as_a_newline_less_file_reads_them(text: str) -> None:
    read_as_file = list(csv.reader(io.StringIO(text, newline="")))
    assert list(csv.reader(lines_of(text))) == read_as_file
    assert "".join(lines_of(text)) == text
