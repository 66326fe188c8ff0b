"""The monthly statement as PDF, read back: its figures are the API's own, user text in any
script survives, and its first page is rendered to PNG (test-output/report/) for a reviewer."""

from __future__ import annotations

import asyncio
import io
import re
import shutil
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from tests.support import ROOT, eventually, register_and_login

MONTH, PREVIOUS = "2026-10", "2026-09"
OUTPUT = ROOT / "test-output" / "report"


def money(amount: str, currency: str = "EUR") -> str:
    return f"{Decimal(amount):,.2f} {currency}"


async def test_the_statement_matches_the_api(client: httpx.AsyncClient) -> None:
    account = await register_and_login(
        client, name="Zoë Ångström", currency="EUR", timezone="Asia/Tokyo"
    )
    entries: list[dict[str, Any]] = [
        {"amount": "2000.00", "category": "other", "kind": "income", "description": "Salary"},
        {"amount": "45.50", "category": "food", "description": "寿司 dinner with Jiwoo 지우"},
        {"amount": "12.00", "category": "food", "description": "Pizza 🍕 night"},
        {"amount": "1180.00", "category": "bills", "description": "Rent — Königstraße"},
        {"amount": "38.20", "category": "travel", "description": "Train to Zürich"},
        {"amount": "33.30", "category": "food", "description": "Groceries"},
    ]
    for n, entry in enumerate(entries):
        body = {**entry, "date": f"{MONTH}-{n + 3:02d}"}
        response = await client.post("/api/expenses", json=body, headers=account.headers)
        assert response.status_code == 201, response.text
    before = {"amount": "50.00", "category": "food", "date": f"{PREVIOUS}-12"}
    assert (await client.post("/api/expenses", json=before, headers=account.headers)).is_success
    for budget in ({"category": "food", "amount": "100"}, {"amount": "1200"}):
        response = await client.post(
            "/api/budgets", json={"month": MONTH, **budget}, headers=account.headers
        )
        assert response.status_code in (200, 201), response.text

    async def counted() -> dict[str, Any] | None:
        summary = await client.get(
            "/api/analytics/summary", params={"month": MONTH}, headers=account.headers
        )
        body: dict[str, Any] = summary.json()
        return body if body["expense"] == "1309.00" and body["income"] == "2000.00" else None

    summary = await eventually(counted, timeout=10, what="analytics to count the month")

    async def both_budgets() -> bool:
        # The statement's budget rows come from analytics' copy of the budgets (their events).
        forecast = await client.get(
            "/api/analytics/forecast", params={"month": MONTH}, headers=account.headers
        )
        return len(forecast.json()["budgets"]) == 2

    assert await eventually(both_budgets, timeout=10, what="analytics to have both budgets")

    async def budgets_counted() -> list[dict[str, Any]] | None:
        # budget_service counts the expenses from their events too, on its own schedule: the
        # rows are compared once it has the month's spending, food 90.80 and overall 1309.00.
        response = await client.get(
            "/api/budgets/status", params={"month": MONTH}, headers=account.headers
        )
        lines: list[dict[str, Any]] = response.json()
        spent = {line["category"]: line["spent"] for line in lines}
        return lines if spent == {"food": "90.80", None: "1309.00"} else None

    status = await eventually(budgets_counted, timeout=10, what="budget_service to count the month")

    response = await client.get(
        "/api/analytics/report.pdf", params={"month": MONTH}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert "statement-2026-10.pdf" in response.headers["content-disposition"]
    assert response.content.startswith(b"%PDF-")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "statement.pdf").write_bytes(response.content)

    pdf = PdfReader(io.BytesIO(response.content))
    assert 1 <= len(pdf.pages) <= 3
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert "Statement for October 2026" in text
    assert "Zoë Ångström" in text
    for figure in ("income", "expense", "savings"):
        assert money(summary[figure]) in text, figure
    assert {line["state"] for line in status} == {"warning", "exceeded"}
    for line in status:  # each budget's row: name, limit, spent, percent used, state
        name = line["category"] or "Overall"
        row = rf"{name} {money(line['amount'])} {money(line['spent'])} \d+%\s+{line['state']}"
        assert re.search(row, text), row
    for share in summary["categories"]:
        assert share["category"] in text
        assert money(share["total"]) in text
    assert money("50.00") in text  # food the month before
    assert "Rent — Königstraße" in text
    assert "寿司 dinner with Jiwoo 지우" in text  # CJK and Hangul, from the fallback font
    assert "Pizza" in text
    assert any(page.images for page in pdf.pages[:1])  # the category chart

    if shutil.which("pdftoppm"):
        page_one = ["-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile"]
        pdf_path, png_path = OUTPUT / "statement.pdf", OUTPUT / "statement-page-1"
        rendered = await asyncio.create_subprocess_exec(
            "pdftoppm", *page_one, str(pdf_path), str(png_path)
        )
        assert await rendered.wait() == 0
        assert (OUTPUT / "statement-page-1.png").stat().st_size > 10_000


@pytest.mark.parametrize("month", ["2026-13", "26-10", "1800-01"])
async def test_a_bad_month_is_422(client: httpx.AsyncClient, month: str) -> None:
    account = await register_and_login(client)
    response = await client.get(
        "/api/analytics/report.pdf", params={"month": month}, headers=account.headers
    )
    assert response.status_code == 422
