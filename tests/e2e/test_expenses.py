"""Expenses through the gateway: every route, with totals checked to the cent."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.support import Account, register_and_login


async def add(client: httpx.AsyncClient, account: Account, **fields: Any) -> dict[str, Any]:
    body = {"category": "food", "date": "2026-11-10", **fields}
    response = await client.post("/api/expenses", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    expense: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/expenses/{expense['id']}"
    return expense


def total(items: list[dict[str, Any]], field: str = "base_amount") -> Decimal:
    return sum((Decimal(item[field]) for item in items), Decimal(0))


async def listing(client: httpx.AsyncClient, account: Account, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/expenses", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


@pytest.fixture
async def ledger(client: httpx.AsyncClient) -> tuple[Account, list[dict[str, Any]]]:
    """A user (currency EUR) with a small known ledger."""
    account = await register_and_login(client, currency="EUR")
    rows: list[dict[str, Any]] = [
        dict(amount="10.10", date="2026-11-02", description="Lunch with Sam", tags=["work"]),
        dict(amount="20.20", date="2026-11-02", description="groceries"),
        dict(amount="0.07", date="2026-11-15", category="bills", tags=["home", "utility"]),
        dict(amount="5.55", date="2026-11-30", category="travel", description="metro"),
        dict(amount="99.99", date="2026-10-31", category="shopping"),
        dict(amount="1000", date="2026-11-01", category="other", kind="income"),
        dict(
            amount="30",
            currency="USD",
            base_amount="27.35",
            date="2026-11-20",
            category="travel",
            description="taxi in NYC",
        ),
    ]
    created = [await add(client, account, **row) for row in rows]
    return account, created


async def test_create_defaults_to_the_users_currency(
    client: httpx.AsyncClient, ledger: Any
) -> None:
    account, created = ledger
    assert created[0]["currency"] == "EUR"
    assert created[0]["amount"] == created[0]["base_amount"] == "10.10"
    assert created[0]["kind"] == "expense"
    assert created[0]["version"] == 1
    assert created[6]["currency"] == "USD"
    assert created[6]["base_amount"] == "27.35"
    missing_base = await client.post(
        "/api/expenses",
        headers=account.headers,
        json={"amount": "5", "currency": "GBP", "category": "food", "date": "2026-11-01"},
    )
    assert missing_base.status_code == 422
    assert "base_amount" in missing_base.json()["detail"]


async def test_list_filters_and_totals_to_the_cent(client: httpx.AsyncClient, ledger: Any) -> None:
    account, _ = ledger
    november = await listing(client, account, month="2026-11", kind="expense")
    assert november["total"] == 5
    assert total(november["items"]) == Decimal("63.27")  # 10.10+20.20+0.07+5.55+27.35

    ranged = await listing(client, account, **{"from": "2026-11-02", "to": "2026-11-15"})
    assert total(ranged["items"]) == Decimal("30.37")
    assert (await listing(client, account, category="TRAVEL"))["total"] == 2
    assert (await listing(client, account, tag="home"))["items"][0]["amount"] == "0.07"
    assert (await listing(client, account, q="LUNCH"))["total"] == 1
    assert (await listing(client, account, q=".*"))["total"] == 0  # text, not a pattern
    between = await listing(client, account, min_amount="5.55", max_amount="27.35")
    assert sorted(i["base_amount"] for i in between["items"]) == ["10.10", "20.20", "27.35", "5.55"]
    income = await listing(client, account, kind="income")
    assert total(income["items"]) == Decimal("1000.00")
    everything = await listing(client, account)
    assert everything["total"] == 7
    assert total(everything["items"], "amount") == Decimal("1165.91")


async def test_sorting_is_stable_and_pages_never_overlap(
    client: httpx.AsyncClient, ledger: Any
) -> None:
    account, _ = ledger
    by_date = await listing(client, account, sort="date")
    dates = [item["date"] for item in by_date["items"]]
    assert dates == sorted(dates)
    newest = await listing(client, account, sort="-date")
    assert [i["id"] for i in newest["items"]] == [i["id"] for i in reversed(by_date["items"])]
    by_amount = await listing(client, account, sort="-amount")
    amounts = [Decimal(i["base_amount"]) for i in by_amount["items"]]
    assert amounts == sorted(amounts, reverse=True)

    seen: list[str] = []
    for offset in range(0, 7, 2):
        page = await listing(client, account, sort="date", limit=2, offset=offset)
        assert (page["limit"], page["offset"], page["total"]) == (2, offset, 7)
        seen += [item["id"] for item in page["items"]]
    assert seen == [item["id"] for item in by_date["items"]]


async def test_monthly_summary_and_month_alias(client: httpx.AsyncClient, ledger: Any) -> None:
    account, _ = ledger
    monthly = (
        await client.get("/api/expenses/monthly", params={"year": 2026}, headers=account.headers)
    ).json()
    assert monthly["currency"] == "EUR"
    months = {m["month"]: (m["total"], m["count"]) for m in monthly["months"]}
    assert len(months) == 12
    assert months["2026-11"] == ("63.27", 5)
    assert months["2026-10"] == ("99.99", 1)
    assert months["2026-01"] == ("0.00", 0)
    assert monthly["total"] == "163.26"
    income = (
        await client.get(
            "/api/expenses/monthly",
            params={"year": 2026, "kind": "income"},
            headers=account.headers,
        )
    ).json()
    assert income["total"] == "1000.00"

    summary = (
        await client.get(
            "/api/expenses/summary", params={"month": "2026-11"}, headers=account.headers
        )
    ).json()
    assert summary["total"] == "63.27"
    assert summary["count"] == 5
    by_category = {c["category"]: c for c in summary["categories"]}
    assert by_category["food"]["total"] == "30.30"
    assert by_category["travel"]["total"] == "32.90"
    assert by_category["bills"]["total"] == "0.07"
    assert by_category["food"]["share"] == "0.4789"  # 30.30 / 63.27
    assert [c["category"] for c in summary["categories"]] == ["travel", "food", "bills"]

    alias = (
        await client.get(
            "/api/expenses/month", params={"m": 11, "year": 2026}, headers=account.headers
        )
    ).json()
    direct = await listing(client, account, month="2026-11")
    assert alias == direct


async def test_get_put_patch_delete(client: httpx.AsyncClient, ledger: Any) -> None:
    account, created = ledger
    expense = created[0]
    got = await client.get(f"/api/expenses/{expense['id']}", headers=account.headers)
    assert got.json() == expense

    replaced = await client.put(
        f"/api/expenses/{expense['id']}",
        headers=account.headers,
        json={
            "amount": "11.11",
            "category": "shopping",
            "date": "2026-12-01",
            "description": "moved",
            "tags": ["x"],
        },
    )
    assert replaced.status_code == 200
    body = replaced.json()
    assert (body["amount"], body["category"], body["date"], body["version"]) == (
        "11.11",
        "shopping",
        "2026-12-01",
        2,
    )
    assert body["created_at"] == expense["created_at"]

    patched = await client.patch(
        f"/api/expenses/{expense['id']}", headers=account.headers, json={"amount": "12.12"}
    )
    assert patched.json()["amount"] == patched.json()["base_amount"] == "12.12"
    assert patched.json()["description"] == "moved"
    assert patched.json()["version"] == 3
    null_field = await client.patch(
        f"/api/expenses/{expense['id']}", headers=account.headers, json={"category": None}
    )
    assert null_field.status_code == 422
    foreign = await client.patch(
        f"/api/expenses/{created[6]['id']}", headers=account.headers, json={"amount": "31"}
    )
    assert foreign.status_code == 422  # USD expense: a new amount needs a new base_amount

    deleted = await client.delete(f"/api/expenses/{expense['id']}", headers=account.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/expenses/{expense['id']}", headers=account.headers)
    assert gone.status_code == 404
    again = await client.delete(f"/api/expenses/{expense['id']}", headers=account.headers)
    assert again.status_code == 404


async def test_categories(client: httpx.AsyncClient, ledger: Any) -> None:
    account, _ = ledger
    listed = (await client.get("/api/categories", headers=account.headers)).json()
    assert [c["name"] for c in listed] == ["food", "travel", "shopping", "bills", "other"]
    created = await client.post(
        "/api/categories", json={"name": "  Coffee   Shops "}, headers=account.headers
    )
    assert created.status_code == 201
    category = created.json()
    assert category == {"id": category["id"], "name": "coffee shops", "builtin": False}
    for name in ("coffee shops", "COFFEE SHOPS", "Food"):
        dup = await client.post("/api/categories", json={"name": name}, headers=account.headers)
        assert dup.status_code == 409, name

    coffee = await add(client, account, amount="3.40", category="Coffee Shops")
    assert coffee["category"] == "coffee shops"
    removed = await client.delete(
        f"/api/categories/{category['id']}", params={"move_to": "food"}, headers=account.headers
    )
    assert removed.status_code == 204
    moved = (await client.get(f"/api/expenses/{coffee['id']}", headers=account.headers)).json()
    assert (moved["category"], moved["version"]) == ("food", 2)
    unknown = await add_raw(client, account, category="coffee shops")
    assert unknown.status_code == 422
    assert "unknown category" in unknown.json()["detail"]


async def add_raw(client: httpx.AsyncClient, account: Account, **fields: Any) -> httpx.Response:
    body = {"amount": "1.00", "category": "food", "date": "2026-11-10", **fields}
    return await client.post("/api/expenses", json=body, headers=account.headers)


BAD_BODIES: list[tuple[str, str]] = [
    ("negative amount", '{"amount": -5, "category": "food", "date": "2026-11-01"}'),
    ("zero amount", '{"amount": 0, "category": "food", "date": "2026-11-01"}'),
    ("3 decimal places", '{"amount": "1.005", "category": "food", "date": "2026-11-01"}'),
    ("NaN", '{"amount": NaN, "category": "food", "date": "2026-11-01"}'),
    ("NaN string", '{"amount": "NaN", "category": "food", "date": "2026-11-01"}'),
    ("1e999", '{"amount": 1e999, "category": "food", "date": "2026-11-01"}'),
    ("letters", '{"amount": "twelve", "category": "food", "date": "2026-11-01"}'),
    ("over a billion", '{"amount": "1000000000.01", "category": "food", "date": "2026-11-01"}'),
    ("February 30th", '{"amount": 5, "category": "food", "date": "2026-02-30"}'),
    ("unknown category", '{"amount": 5, "category": "yachts", "date": "2026-11-01"}'),
    (
        "long description",
        json.dumps(
            {"amount": 5, "category": "food", "date": "2026-11-01", "description": "x" * 20000}
        ),
    ),
    (
        "11 tags",
        json.dumps(
            {
                "amount": 5,
                "category": "food",
                "date": "2026-11-01",
                "tags": [f"t{i}" for i in range(11)],
            }
        ),
    ),
    (
        "long tag",
        json.dumps({"amount": 5, "category": "food", "date": "2026-11-01", "tags": ["x" * 33]}),
    ),
    ("unknown kind", '{"amount": 5, "category": "food", "date": "2026-11-01", "kind": "gift"}'),
    (
        "unknown currency",
        json.dumps(
            {
                "amount": 5,
                "currency": "XXZ",
                "base_amount": 5,
                "category": "food",
                "date": "2026-11-01",
            }
        ),
    ),
    ("unknown field", '{"amount": 5, "category": "food", "date": "2026-11-01", "user_id": "x"}'),
    ("not an object", "[]"),
    ("malformed JSON", '{"amount": 5,'),
] + [
    (
        f"operator in {field}",
        json.dumps({"amount": 5, "category": "food", "date": "2026-11-01", field: {"$ne": None}}),
    )
    for field in (
        "amount",
        "category",
        "date",
        "description",
        "tags",
        "currency",
        "kind",
        "base_amount",
    )
]


async def test_bad_input_is_4xx_with_detail_and_stores_nothing(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    for name, body in BAD_BODIES:
        response = await client.post(
            "/api/expenses",
            content=body,
            headers={**account.headers, "Content-Type": "application/json"},
        )
        assert 400 <= response.status_code < 500, name
        assert response.json()["detail"], name
    assert (await listing(client, account))["total"] == 0

    for params in (
        {"month": "2026-13"},
        {"month": "26-11"},
        {"from": "2026-02-30"},
        {"from": "2026-11-05", "to": "2026-11-01"},
        {"limit": 0},
        {"limit": 201},
        {"offset": -1},
        {"sort": "price"},
        {"min_amount": "-1"},
        {"min_amount": "5", "max_amount": "1"},
        {"kind": "gift"},
    ):
        response = await client.get("/api/expenses", params=params, headers=account.headers)
        assert response.status_code == 422, params
    bad_year = await client.get(
        "/api/expenses/monthly", params={"year": "abc"}, headers=account.headers
    )
    assert bad_year.status_code == 422
    bad_month = await client.get(
        "/api/expenses/month", params={"m": 13, "year": 2026}, headers=account.headers
    )
    assert bad_month.status_code == 422


async def test_malformed_and_foreign_ids_are_404(client: httpx.AsyncClient, ledger: Any) -> None:
    owner, created = ledger
    stranger = await register_and_login(client)
    expense_id = created[0]["id"]
    for path in ("/api/expenses/not-an-id", "/api/expenses/%24ne", f"/api/expenses/{expense_id}"):
        got = await client.get(path, headers=stranger.headers)
        assert got.status_code == 404, path
    assert (
        await client.put(
            f"/api/expenses/{expense_id}",
            headers=stranger.headers,
            json={"amount": 1, "category": "food", "date": "2026-11-01"},
        )
    ).status_code == 404
    assert (
        await client.patch(
            f"/api/expenses/{expense_id}", headers=stranger.headers, json={"amount": 1}
        )
    ).status_code == 404
    assert (
        await client.delete(f"/api/expenses/{expense_id}", headers=stranger.headers)
    ).status_code == 404
    # ...and the owner's expense is untouched.
    mine = await client.get(f"/api/expenses/{expense_id}", headers=owner.headers)
    assert mine.json() == created[0]
    assert (await listing(client, stranger))["total"] == 0


async def test_one_idempotency_key_stores_one_expense(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    body = {"amount": "42.00", "category": "food", "date": "2026-11-11"}
    headers = {**account.headers, "Idempotency-Key": "order-7781"}
    responses = await asyncio.gather(
        *(client.post("/api/expenses", json=body, headers=headers) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 9
    assert (await listing(client, account))["total"] == 1

    other_body = await client.post(
        "/api/expenses", json={**body, "amount": "43.00"}, headers=headers
    )
    assert other_body.status_code == 422
    assert "different request body" in other_body.json()["detail"]
    # Keys belong to a user: another user's identical key is unrelated.
    stranger = await register_and_login(client)
    theirs = await client.post(
        "/api/expenses", json=body, headers={**stranger.headers, "Idempotency-Key": "order-7781"}
    )
    assert theirs.status_code == 201
    assert theirs.json()["id"] != responses[0].json()["id"]
