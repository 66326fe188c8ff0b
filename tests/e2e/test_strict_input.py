"""Issue 9 (4 and 7): months and dates are bounded, and request bodies take strict types, so
loose or out-of-range input gets a clear 422 instead of a 500 or a silent guess."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.problems import error_text
from tests.support import register_and_login


@pytest.mark.parametrize(
    "path",
    [
        "/api/expenses?month=9999-12",
        "/api/expenses?month=0000-01",
        "/api/expenses?to=9999-12-31",
        "/api/expenses?from=0001-01-01",
        "/api/expenses/summary?month=9999-12",
        "/api/expenses/summary?month=0000-01",
        "/api/expenses/export.csv?to=9999-12-31",
        "/api/budgets?month=9999-12",
        "/api/budgets/status?month=0000-01",
        "/api/analytics/categories?month=0000-01",
        "/api/analytics/forecast?month=9999-12",
        "/api/analytics/insights?month=0001-01",
        "/api/analytics/trends?month=0001-01",
        "/api/analytics/budget-vs-actual?month=9999-12",
        "/api/analytics/summary?from=0001-01-01&to=0001-12-31",
    ],
)
async def test_months_and_dates_out_of_range_are_422(client: httpx.AsyncClient, path: str) -> None:
    account = await register_and_login(client)
    response = await client.get(path, headers=account.headers)
    assert response.status_code == 422, response.text
    assert "between 1900 and 9998" in error_text(response)


async def test_edge_months_inside_the_range_answer(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    for path in (
        "/api/expenses?month=9998-12",
        "/api/expenses/summary?month=1900-01",
        "/api/analytics/forecast?month=9998-12",
        "/api/analytics/trends?month=1900-01&months=60",
        "/api/budgets/status?month=9998-12",
    ):
        response = await client.get(path, headers=account.headers)
        assert response.status_code == 200, (path, response.text)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("date", 0, "YYYY-MM-DD"),
        ("date", "2026-11-21T10:00:00", "YYYY-MM-DD"),
        ("date", "9999-12-31", "between 1900 and 9998"),
        ("amount", " 12 ", "plain decimal"),
        ("amount", "1_000", "plain decimal"),
        ("amount", "\u0661\u0662", "plain decimal"),  # Arabic-Indic digits
        ("amount", "1e3", "plain decimal"),
        ("amount", True, "boolean"),
    ],
)
async def test_expense_body_is_strict(
    client: httpx.AsyncClient, field: str, value: Any, says: str
) -> None:
    account = await register_and_login(client)
    body = {"amount": "12.50", "category": "food", "date": "2026-11-02", field: value}
    response = await client.post("/api/expenses", json=body, headers=account.headers)
    assert response.status_code == 422, response.text
    assert says in error_text(response)
    listed = await client.get("/api/expenses", headers=account.headers)
    assert listed.json()["total"] == 0


async def test_plain_amounts_still_accepted(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    for amount in ("12.50", 12.5, 7, "0.99"):
        response = await client.post(
            "/api/expenses",
            json={"amount": amount, "category": "food", "date": "2026-11-02"},
            headers=account.headers,
        )
        assert response.status_code == 201, response.text


async def test_flags_are_booleans(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    for method in ("PUT", "PATCH"):
        prefs = await client.request(
            method,
            "/api/notifications/preferences",
            json={"in_app": True, "email": 0},
            headers=account.headers,
        )
        assert prefs.status_code == 422, prefs.text
        assert "email" in error_text(prefs)
    stored = await client.get("/api/notifications/preferences", headers=account.headers)
    assert stored.json()["email"] is True
    budget = await client.post(
        "/api/budgets",
        json={"month": "2026-11", "amount": "100", "hard_limit": "yes"},
        headers=account.headers,
    )
    assert budget.status_code == 422, budget.text
    assert "hard_limit" in error_text(budget)
    threshold = await client.post(
        "/api/budgets",
        json={"month": "2026-11", "amount": "100", "thresholds": [" 0.5"]},
        headers=account.headers,
    )
    assert threshold.status_code == 422, threshold.text
