"""Category suggestions through the gateway: a new account's prior, learning the user's own
categories and corrections from the expense events, isolation between users, and filing an
expense (or an imported row) that comes without a category."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.problems import detail
from tests.support import Account, eventually, register_and_login

SUGGEST = "/api/expenses/suggest-category"


async def suggest(client: httpx.AsyncClient, account: Account, description: str) -> dict[str, Any]:
    response = await client.post(
        SUGGEST, json={"description": description}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    suggestion: dict[str, Any] = response.json()
    return suggestion


async def file(
    client: httpx.AsyncClient, account: Account, description: str, category: str | None
) -> dict[str, Any]:
    body = {"amount": "4.50", "description": description, "date": "2026-11-02"}
    if category is not None:
        body["category"] = category
    response = await client.post("/api/expenses", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    expense: dict[str, Any] = response.json()
    return expense


async def learnt(
    client: httpx.AsyncClient, account: Account, description: str, category: str
) -> dict[str, Any]:
    async def suggested() -> dict[str, Any] | None:
        found = await suggest(client, account, description)
        return found if found["category"] == category else None

    result: dict[str, Any] = await eventually(suggested, what=f"{description!r} -> {category}")
    return result


@pytest.mark.parametrize(
    ("description", "category"),
    [("Uber", "travel"), ("Electricity bill", "bills"), ("Groceries", "food")],
)
async def test_a_new_account_gets_sensible_suggestions(
    client: httpx.AsyncClient, description: str, category: str
) -> None:
    account = await register_and_login(client)
    suggestion = await suggest(client, account, description)
    assert suggestion["category"] == category
    ranked = [suggestion["confidence"], *(a["confidence"] for a in suggestion["alternatives"])]
    assert all(0 <= float(c) <= 1 for c in ranked)
    assert ranked == sorted(ranked, key=float, reverse=True)
    assert category not in {a["category"] for a in suggestion["alternatives"]}


async def test_it_learns_own_categories_and_corrections_for_that_user_only(
    client: httpx.AsyncClient,
) -> None:
    account = await register_and_login(client)
    other = await register_and_login(client)
    created = await client.post("/api/categories", json={"name": "coffee"}, headers=account.headers)
    assert created.status_code == 201, created.text
    for _ in range(3):
        await file(client, account, "Blue Bottle Coffee", "coffee")
    suggestion = await learnt(client, account, "BLUE BOTTLE COFFEE #4411", "coffee")
    assert float(suggestion["confidence"]) > 0.7
    # The other account has no such category and learnt nothing from this one.
    assert (await suggest(client, other, "BLUE BOTTLE COFFEE #4411"))["category"] != "coffee"

    # A correction teaches: "Joe's Diner" first filed as travel, then re-filed as food.
    wrong = await file(client, account, "Joe's Diner", "travel")
    await learnt(client, account, "JOES DINER 0042", "travel")
    patched = await client.patch(
        f"/api/expenses/{wrong['id']}", json={"category": "food"}, headers=account.headers
    )
    assert patched.status_code == 200, patched.text
    await learnt(client, account, "POS JOE'S DINER 11/02", "food")


async def test_an_expense_without_a_category_is_filed_when_the_suggestion_is_sure(
    client: httpx.AsyncClient,
) -> None:
    account = await register_and_login(client)
    await client.post("/api/categories", json={"name": "gym"}, headers=account.headers)
    for _ in range(3):
        await file(client, account, "Planet Fitness", "gym")
    await learnt(client, account, "PLANET FITNESS #12", "gym")
    filed = await file(client, account, "PLANET FITNESS CARD XX1234", None)
    assert (filed["category"], filed["category_suggested"]) == ("gym", True)
    # The user re-files it: no longer marked as the service's choice.
    refiled = await client.patch(
        f"/api/expenses/{filed['id']}", json={"category": "other"}, headers=account.headers
    )
    assert refiled.json()["category_suggested"] is False

    unsure = await client.post(
        "/api/expenses",
        json={"amount": "3", "description": "zq xw", "date": "2026-11-02"},
        headers=account.headers,
    )
    assert unsure.status_code == 422
    assert "category is required" in detail(unsure)

    imported = await client.post(
        "/api/expenses/import",
        content=b"date,amount,description\n2026-11-03,30.00,Planet Fitness monthly\n"
        b"2026-11-04,2.00,zq xw\n",
        headers={**account.headers, "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["imported"] == 2
    rows = await client.get(
        "/api/expenses", params={"from": "2026-11-03", "sort": "date"}, headers=account.headers
    )
    assert [(e["category"], e["category_suggested"]) for e in rows.json()["items"]] == [
        ("gym", True),
        ("other", False),
    ]


async def test_an_empty_description_is_422(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    for body in ({"description": ""}, {"description": "   "}, {}):
        response = await client.post(SUGGEST, json=body, headers=account.headers)
        assert response.status_code == 422, response.text
        assert "description" in detail(response)
