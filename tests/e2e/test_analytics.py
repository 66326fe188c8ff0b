"""Analytics through the gateway: hand-computed figures, bad input, and a rebuild after the
analytics database is wiped."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from tests.e2e.conftest import E2E
from tests.support import ROOT, Account, eventually, register_and_login

ENDPOINTS: list[tuple[str, dict[str, Any]]] = [
    ("/api/analytics/summary", {"month": "2026-08"}),
    ("/api/analytics/summary", {"from": "2026-07-20", "to": "2026-08-10"}),
    ("/api/analytics/categories", {"month": "2026-08"}),
    ("/api/analytics/trends", {"months": 3, "month": "2026-08"}),
    ("/api/analytics/weekly", {"weeks": 4}),
    ("/api/analytics/budget-vs-actual", {"month": "2026-08"}),
    ("/api/analytics/insights", {"month": "2026-08"}),
    ("/api/analytics/forecast", {"month": "2026-08"}),
]


async def get(client: httpx.AsyncClient, account: Account, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params, headers=account.headers)
    assert response.status_code == 200, (path, response.text)
    return response.json()


async def ledger(client: httpx.AsyncClient) -> Account:
    account = await register_and_login(client, currency="EUR")
    rows = [
        ("2026-07-25", "food", "40.00", "expense", ""),
        ("2026-08-01", "other", "3000", "income", "salary"),
        ("2026-08-02", "food", "12.40", "expense", ""),
        ("2026-08-03", "food", "13.10", "expense", ""),
        ("2026-08-04", "food", "11.90", "expense", ""),
        ("2026-08-05", "food", "12.60", "expense", ""),
        ("2026-08-06", "food", "13.00", "expense", ""),
        ("2026-08-09", "travel", "150.00", "expense", "train"),
        ("2026-08-20", "food", "310.00", "expense", "wedding dinner"),
    ]
    for day, category, amount, kind, description in rows:
        response = await client.post(
            "/api/expenses",
            headers=account.headers,
            json={
                "date": day,
                "category": category,
                "amount": amount,
                "kind": kind,
                "description": description,
            },
        )
        assert response.status_code == 201
    budget = await client.post(
        "/api/budgets",
        headers=account.headers,
        json={"month": "2026-08", "category": "food", "amount": "400"},
    )
    assert budget.status_code == 201

    async def caught_up() -> bool:
        summary = await get(client, account, "/api/analytics/summary", month="2026-08")
        vs = await get(client, account, "/api/analytics/budget-vs-actual", month="2026-08")
        return (summary["count"], summary["income_count"]) == (7, 1) and len(vs) == 1

    assert await eventually(caught_up, timeout=5)
    return account


async def test_figures_match_hand_computation(client: httpx.AsyncClient) -> None:
    account = await ledger(client)
    summary = await get(client, account, "/api/analytics/summary", month="2026-08")
    assert (summary["from"], summary["to"], summary["currency"]) == (
        "2026-08-01",
        "2026-08-31",
        "EUR",
    )
    # expense: 12.40+13.10+11.90+12.60+13.00+150.00+310.00 = 523.00
    assert (summary["income"], summary["expense"], summary["savings"]) == (
        "3000.00",
        "523.00",
        "2477.00",
    )
    assert summary["savings_rate"] == "0.8257"  # 2477 / 3000
    assert summary["average_per_day"] == "16.87"  # 523.00 / 31
    assert [(c["category"], c["total"], c["count"], c["share"]) for c in summary["categories"]] == [
        ("food", "373.00", 6, "0.7132"),
        ("travel", "150.00", 1, "0.2868"),
    ]

    ranged = await get(
        client, account, "/api/analytics/summary", **{"from": "2026-07-20", "to": "2026-08-03"}
    )
    assert (ranged["expense"], ranged["income"], ranged["count"], ranged["income_count"]) == (
        "65.50",
        "3000.00",
        3,
        1,
    )
    assert (
        await get(client, account, "/api/analytics/categories", month="2026-08")
        == summary["categories"]
    )

    trends = await get(client, account, "/api/analytics/trends", months=3, month="2026-08")
    assert [(m["month"], m["expense"], m["income"]) for m in trends["months"]] == [
        ("2026-06", "0.00", "0.00"),
        ("2026-07", "40.00", "0.00"),
        ("2026-08", "523.00", "3000.00"),
    ]
    assert trends["months"][2]["categories"] == {"food": "373.00", "travel": "150.00"}

    [vs] = await get(client, account, "/api/analytics/budget-vs-actual", month="2026-08")
    assert (vs["category"], vs["amount"], vs["spent"], vs["remaining"], vs["percent_used"]) == (
        "food",
        "400.00",
        "373.00",
        "27.00",
        "93.25",
    )

    insights = await get(client, account, "/api/analytics/insights", month="2026-08")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for insight in insights["insights"]:
        by_kind.setdefault(insight["kind"], []).append(insight)
    assert [i["data"]["category"] for i in by_kind["unusual_expense"]] == ["food"]
    assert by_kind["unusual_expense"][0]["data"]["amount"] == "310.00"
    assert "wedding dinner" in by_kind["unusual_expense"][0]["text"]
    food_change = next(i for i in by_kind["month_over_month"] if i["data"]["category"] == "food")
    assert food_change["text"] == "Food spending rose 833%, from 40.00 to 373.00 EUR."
    assert by_kind["largest_expense"][0]["data"]["amount"] == "310.00"

    forecast = await get(client, account, "/api/analytics/forecast", month="2026-08")
    assert (forecast["days_elapsed"], forecast["overall"]["projected"]) == (31, "523.00")
    [food] = forecast["budgets"]
    assert (food["reaches_limit_on"], food["projected"]) == (None, "373.00")

    weekly = await get(client, account, "/api/analytics/weekly", weeks=4)
    assert len(weekly["weeks"]) == 4
    assert weekly["weeks"][-1]["start"] <= forecast["as_of"] <= weekly["weeks"][-1]["end"]


async def test_bad_input_is_4xx(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    bad: list[tuple[str, dict[str, Any]]] = [
        ("/api/analytics/summary", {"month": "2026-13"}),
        ("/api/analytics/summary", {"from": "2020-01-01", "to": "2026-01-01"}),  # over 5 years
        ("/api/analytics/summary", {"from": "2026-02-01", "to": "2026-01-01"}),
        ("/api/analytics/summary", {"from": "2026-02-01"}),
        ("/api/analytics/summary", {"month": "2026-01", "from": "2026-01-01", "to": "2026-01-02"}),
        ("/api/analytics/summary", {"from": "2026-02-30", "to": "2026-03-01"}),
        ("/api/analytics/weekly", {"weeks": 105}),
        ("/api/analytics/weekly", {"weeks": 0}),
        ("/api/analytics/trends", {"months": 61}),
        ("/api/analytics/insights", {"month": "26-01"}),
        ("/api/analytics/forecast", {"month": "2026-00"}),
        ("/api/analytics/categories", {"month": "$gt"}),
    ]
    for path, params in bad:
        response = await client.get(path, params=params, headers=account.headers)
        assert response.status_code == 422, (path, params)
        assert response.json()["detail"], (path, params)
    five_years = await client.get(
        "/api/analytics/summary",
        headers=account.headers,
        params={"from": "2021-01-02", "to": "2026-01-01"},
    )
    assert five_years.status_code == 200


async def test_rebuild_after_wiping_gives_the_same_answers(
    client: httpx.AsyncClient, e2e: E2E
) -> None:
    account = await ledger(client)
    before = [await get(client, account, path, **params) for path, params in ENDPOINTS]
    stack = e2e.stack
    await asyncio.to_thread(stack.kill, "analytics_service")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(e2e.mongodb_url)
    try:
        await mongo.drop_database("analytics")
    finally:
        await mongo.close()
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "analytics_service.rebuild"],
        cwd=ROOT,
        env=os.environ | {"MONGODB_URL": e2e.mongodb_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rebuilt: expense_projection ")
    await asyncio.to_thread(stack.start_service, "analytics_service")

    await asyncio.to_thread(stack.wait_service_ready, "analytics_service")
    after = [await get(client, account, path, **params) for path, params in ENDPOINTS]
    assert after == before
