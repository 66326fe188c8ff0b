"""CSV export and import through the gateway."""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.support import Account, eventually, register_and_login


async def all_expenses(client: httpx.AsyncClient, account: Account) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = (
            await client.get(
                "/api/expenses",
                headers=account.headers,
                params={"limit": 200, "offset": len(items), "sort": "date"},
            )
        ).json()
        items += page["items"]
        if len(items) >= page["total"]:
            return items


def totals_by_month_and_category(
    items: list[dict[str, Any]],
) -> dict[tuple[str, str, str], Decimal]:
    totals: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for item in items:
        totals[(item["date"][:7], item["category"], item["kind"])] += Decimal(item["base_amount"])
    return dict(totals)


async def test_export_then_import_gives_identical_totals(client: httpx.AsyncClient) -> None:
    source = await register_and_login(client, currency="EUR")
    rows = [
        ("12.34", "2026-09-03", "food", "=SUM(A1:A9)", ["a", "b"], "expense", None, None),
        ("0.01", "2026-09-30", "bills", 'He said "hi", twice', [], "expense", None, None),
        ("1999.99", "2026-10-01", "travel", "-minus\nnewline", ["trip"], "expense", None, None),
        ("2500", "2026-10-15", "other", "@salary", [], "income", None, None),
        ("40", "2026-11-20", "shopping", "+plus", [], "expense", "USD", "36.80"),
        ("7.77", "2026-11-20", "food", "", [], "expense", None, None),
        ("7.77", "2026-11-20", "food", "", [], "expense", None, None),  # twice, on purpose
    ]
    for amount, day, category, description, tags, kind, currency, base in rows:
        body: dict[str, Any] = {
            "amount": amount,
            "date": day,
            "category": category,
            "description": description,
            "tags": tags,
            "kind": kind,
        }
        if currency:
            body |= {"currency": currency, "base_amount": base}
        created = await client.post("/api/expenses", json=body, headers=source.headers)
        assert created.status_code == 201, created.text

    exported = await client.get("/api/expenses/export.csv", headers=source.headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    text = exported.text
    assert text.startswith("id,date,kind,amount,currency,base_amount,category,description,")
    assert "\r\n" in text
    parsed = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(parsed) == 7
    descriptions = {row["description"] for row in parsed}
    # Formula starters are neutralised; quotes and newlines survive RFC 4180 quoting.
    assert {"'=SUM(A1:A9)", "'-minus\nnewline", "'@salary", "'+plus"} <= descriptions
    assert 'He said "hi", twice' in descriptions

    target = await register_and_login(client, currency="EUR")
    imported = await client.post(
        "/api/expenses/import",
        headers=target.headers,
        files={"file": ("expenses.csv", exported.content, "text/csv")},
    )
    assert imported.status_code == 200, imported.text
    assert imported.json() == {
        "imported": 7,
        "skipped": 0,
        "errors": [],
        "created_categories": [],
        "delimiter": ",",
        "decimal": "point",
    }

    source_items = await all_expenses(client, source)
    target_items = await all_expenses(client, target)
    assert totals_by_month_and_category(target_items) == totals_by_month_and_category(source_items)
    assert sorted(i["description"] for i in target_items) == sorted(
        i["description"] for i in source_items
    )

    # The same file again adds nothing.
    again = await client.post(
        "/api/expenses/import", headers=target.headers, content=exported.content
    )
    assert again.status_code == 415  # no content type: refused with a clear reason
    again = await client.post(
        "/api/expenses/import",
        content=exported.content,
        headers={**target.headers, "Content-Type": "text/csv"},
    )
    assert again.json() == {
        "imported": 0,
        "skipped": 7,
        "errors": [],
        "created_categories": [],
        "delimiter": ",",
        "decimal": "point",
    }
    assert len(await all_expenses(client, target)) == 7


async def test_bad_lines_are_reported_by_number_and_good_ones_imported(
    client: httpx.AsyncClient,
) -> None:
    account = await register_and_login(client)
    lines = [
        "Date,Amount,Category,Note,Tags",  # 1: header, other names and case
        "2026-11-01,10.00,food,ok one,x;y",  # 2
        "2026-11-31,5.00,food,bad date,",  # 3
        "2026-11-02,-3,food,negative,",  # 4
        "2026-11-03,abc,food,letters,",  # 5
        "",  # 6: blank, ignored
        "2026-11-04,2.50,,no category: other,",  # 7
        "2026-11-05,1.234,food,3 places,",  # 8
        "2026-11-06,4.00,yachts,a new category: created,",  # 9
        '2026-11-07,6.00,food,"multi',  # 10-11: a quoted newline
        'line",',
        "2026-11-08,7.00,food,ok last,",  # 12
    ]
    response = await client.post(
        "/api/expenses/import",
        content="\n".join(lines).encode(),
        headers={**account.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["imported"], result["created_categories"]) == (5, ["yachts"])
    assert [e["line"] for e in result["errors"]] == [3, 4, 5, 8]
    details = {e["line"]: e["detail"] for e in result["errors"]}
    assert "date" in details[3]
    assert "greater than 0" in details[4]
    assert "decimal" in details[5]
    assert "2 decimal places" in details[8]
    items = await all_expenses(client, account)
    assert sorted(Decimal(i["amount"]) for i in items) == [
        Decimal("2.50"),
        Decimal("4.00"),
        Decimal("6.00"),
        Decimal("7.00"),
        Decimal("10.00"),
    ]
    assert {i["category"] for i in items} == {"food", "other", "yachts"}
    assert next(i for i in items if i["amount"] == "10.00")["tags"] == ["x", "y"]


async def test_unusable_files_are_refused_whole(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    headers = {**account.headers, "Content-Type": "text/csv"}
    no_amount = await client.post(
        "/api/expenses/import", content=b"date,category\n2026-01-01,x", headers=headers
    )
    assert no_amount.status_code == 422
    assert "amount" in no_amount.json()["detail"]
    empty = await client.post("/api/expenses/import", content=b"", headers=headers)
    assert empty.status_code == 422
    latin1 = await client.post(
        "/api/expenses/import",
        content="date,amount,note\n2026-01-01,1,caf\xe9".encode("latin-1"),
        headers=headers,
    )
    assert latin1.status_code == 422
    assert "UTF-8" in latin1.json()["detail"]
    too_big = await client.post(
        "/api/expenses/import",
        headers=headers,
        content=b"date,amount\n" + b"2026-01-01,1.00\n" * 400_000,
    )
    assert too_big.status_code == 413
    too_many = await client.post(
        "/api/expenses/import",
        headers=headers,
        content=b"date,amount\n" + b"2026-01-01,1\n" * 50_001,
    )
    assert too_many.status_code == 422
    assert "50000 rows" in too_many.json()["detail"]
    nothing = (await client.get("/api/expenses", headers=account.headers)).json()
    assert nothing["total"] == 0


async def test_own_export_with_own_categories_imports_into_a_fresh_account(
    client: httpx.AsyncClient,
) -> None:
    source = await register_and_login(client)
    assert (
        await client.post("/api/categories", json={"name": "Pets"}, headers=source.headers)
    ).status_code == 201
    for category in ("pets", "food"):
        response = await client.post(
            "/api/expenses",
            json={"amount": "9.90", "category": category, "date": "2026-10-02"},
            headers=source.headers,
        )
        assert response.status_code == 201
    exported = await client.get("/api/expenses/export.csv", headers=source.headers)
    fresh = await register_and_login(client)
    imported = await client.post(
        "/api/expenses/import",
        content=exported.content,
        headers={**fresh.headers, "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert (body["imported"], body["errors"], body["created_categories"]) == (2, [], ["pets"])
    names = [c["name"] for c in (await client.get("/api/categories", headers=fresh.headers)).json()]
    assert "pets" in names


async def test_semicolon_file_with_decimal_commas_from_a_bank(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client, currency="EUR")
    text = (
        "Buchungstag;Betrag;Kategorie;Verwendungszweck\r\n"
        "02.10.2026;-12,50;food;Bäckerei\r\n"
        "03.10.2026;-1.250,00;bills;Miete\r\n"
        "05.10.2026;2.400,00;other;Gehalt\r\n"
    )
    response = await client.post(
        "/api/expenses/import",
        content=text.encode(),
        headers={**account.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["imported"], body["errors"], body["delimiter"], body["decimal"]) == (
        3,
        [],
        ";",
        "comma",
    )
    items = await all_expenses(client, account)
    assert [(i["date"], i["amount"], i["kind"], i["category"]) for i in items] == [
        ("2026-10-02", "12.50", "expense", "food"),
        ("2026-10-03", "1250.00", "expense", "bills"),
        ("2026-10-05", "2400.00", "income", "other"),
    ]
    # The plain "Date;Amount;Category" of the issue, with a declared decimal comma.
    plain = await client.post(
        "/api/expenses/import?decimal=comma&amounts=positive",
        content=b"Date;Amount;Category\n2026-10-07;12,50;food\n",
        headers={**account.headers, "Content-Type": "text/csv"},
    )
    assert (plain.status_code, plain.json()["imported"]) == (200, 1), plain.text


@pytest.mark.timeout(240)
async def test_large_import_runs_as_a_job_and_reaches_budgets_and_analytics(
    client: httpx.AsyncClient,
) -> None:
    account = await register_and_login(client)
    month = "2026-04"
    budget = await client.post(
        "/api/budgets", json={"month": month, "amount": "1000000"}, headers=account.headers
    )
    assert budget.status_code == 201
    rows = 4_000  # over the 2,000 imported within the request (bench/ measures 50,000)
    lines = ["date,amount,category,description"]
    total = Decimal(0)
    for n in range(rows):
        amount = Decimal(1 + n % 997) / 100
        total += amount
        lines.append(f"{month}-{1 + n % 28:02d},{amount},{('food', 'travel')[n % 2]},row {n}")
    lines.append(f"{month}-01,oops,food,a bad line")  # line rows + 2
    started = time.monotonic()
    response = await client.post(
        "/api/expenses/import",
        content="\n".join(lines).encode(),
        headers={**account.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 202, response.text
    assert time.monotonic() - started < 10
    location = response.headers["Location"]
    assert response.json()["state"] == "running"

    async def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = (await client.get(location, headers=account.headers)).json()
        return job if job["state"] != "running" else None

    # Alone this takes seconds; late in the whole suite, on two cores shared with everything,
    # it has taken over 70 s (docs/benchmarks.md: imports are an open performance item).
    job = await eventually(finished, timeout=150, interval=0.5)
    assert job, "the import did not finish"
    assert (job["state"], job["rows"], job["processed"], job["imported"]) == (
        "done",
        rows + 1,
        rows + 1,
        rows,
    )
    assert [e["line"] for e in job["errors"]] == [rows + 2]
    want = f"{total:.2f}"

    async def reflected() -> bool:
        status = await client.get(f"/api/budgets/status?month={month}", headers=account.headers)
        summary = await client.get(f"/api/analytics/summary?month={month}", headers=account.headers)
        return bool(status.json()[0]["spent"] == want and summary.json()["expense"] == want)

    assert await eventually(reflected, timeout=30, interval=0.5)
    listed = await client.get(f"/api/expenses?month={month}&limit=1", headers=account.headers)
    assert listed.json()["total"] == rows
    other = await register_and_login(client)
    assert (await client.get(location, headers=other.headers)).status_code == 404
