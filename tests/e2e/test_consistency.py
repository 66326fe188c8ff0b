"""Issue 10 (8, 9, 10): optimistic concurrency, small inconsistencies, and the one rule for
paths that name nothing, all through the gateway."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.e2e.problems import detail, error_text
from tests.support import Account, register_and_login


async def spend(client: httpx.AsyncClient, account: Account, **fields: Any) -> dict[str, Any]:
    body = {"amount": "10", "category": "food", "date": "2026-10-05", **fields}
    response = await client.post("/api/expenses", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    assert response.headers["ETag"] == '"1"'
    created: dict[str, Any] = response.json()
    return created


async def test_expense_etag_and_if_match(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    expense = await spend(client, account)
    url = f"/api/expenses/{expense['id']}"
    for amount in ("11", "12"):
        changed = await client.patch(url, json={"amount": amount}, headers=account.headers)
        assert changed.status_code == 200
    read = await client.get(url, headers=account.headers)
    assert (read.headers["ETag"], read.json()["version"]) == ('"3"', 3)

    stale = await client.patch(
        url, json={"amount": "99"}, headers={**account.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412, stale.text
    assert "version is now 3" in detail(stale)
    assert stale.headers["ETag"] == '"3"'
    put = await client.put(
        url,
        json={"amount": "99", "category": "food", "date": "2026-10-05"},
        headers={**account.headers, "If-Match": 'W/"3"'},  # weak tags never match If-Match
    )
    assert put.status_code == 412
    gone = await client.delete(url, headers={**account.headers, "If-Match": '"2"'})
    assert gone.status_code == 412
    assert (await client.get(url, headers=account.headers)).json()["amount"] == "12.00"

    fresh = await client.patch(
        url, json={"amount": "13"}, headers={**account.headers, "If-Match": '"2", "3"'}
    )
    assert (fresh.status_code, fresh.headers["ETag"]) == (200, '"4"')
    deleted = await client.delete(url, headers={**account.headers, "If-Match": "*"})
    assert deleted.status_code == 204


async def test_budget_etag_and_if_match(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    created = await client.post(
        "/api/budgets", json={"month": "2026-10", "amount": "100"}, headers=account.headers
    )
    assert (created.status_code, created.headers["ETag"]) == (201, '"1"')
    url = f"/api/budgets/{created.json()['id']}"
    raised = await client.patch(url, json={"amount": "200"}, headers=account.headers)
    assert raised.headers["ETag"] == '"2"'
    stale = await client.patch(
        url, json={"amount": "300"}, headers={**account.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412, stale.text
    assert "version is now 2" in detail(stale)
    stale_delete = await client.delete(url, headers={**account.headers, "If-Match": '"1"'})
    assert stale_delete.status_code == 412
    assert (await client.get(url, headers=account.headers)).json()["amount"] == "200.00"
    ok = await client.patch(
        url, json={"amount": "300"}, headers={**account.headers, "If-Match": '"2"'}
    )
    assert (ok.status_code, ok.headers["ETag"]) == (200, '"3"')


async def test_month_shorthand_defaults_to_this_year(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client, timezone="UTC")
    now = datetime.now(UTC)
    await spend(client, account, date=f"{now.year}-10-05")
    await spend(client, account, date=f"{now.year - 1}-10-05")
    response = await client.get("/api/expenses/month?m=10", headers=account.headers)
    assert response.status_code == 200, response.text
    assert [e["date"] for e in response.json()["items"]] == [f"{now.year}-10-05"]


async def test_tags_are_case_insensitive_and_limited_in_characters(
    client: httpx.AsyncClient,
) -> None:
    account = await register_and_login(client)
    await spend(client, account, tags=["Work"])
    await spend(client, account, tags=["work", "Trip"])
    for tag in ("WORK", "work", " Work "):
        found = await client.get("/api/expenses", params={"tag": tag}, headers=account.headers)
        assert found.json()["total"] == 2, (tag, found.text)
    long_tag = await client.post(
        "/api/expenses",
        json={"amount": "1", "category": "food", "date": "2026-10-05", "tags": ["x" * 200]},
        headers=account.headers,
    )
    assert long_tag.status_code == 422
    assert "at most 32 characters" in error_text(long_tag)
    assert "items" not in error_text(long_tag)


async def test_unknown_paths_under_a_service_are_404_not_read_as_ids(
    client: httpx.AsyncClient,
) -> None:
    account = await register_and_login(client)
    for path in (
        "/api/expenses/export.pdf",
        "/api/expenses/not-an-id",
        "/api/budgets/nope",
    ):
        for method in ("GET", "PATCH", "DELETE"):
            response = await client.request(method, path, headers=account.headers, json={})
            assert response.status_code == 404, (method, path, response.text)
            assert detail(response) == f"no such route: {path}"
    for method, path in (
        ("POST", "/api/notifications/nope/read"),
        ("DELETE", "/api/notifications/nope"),
        ("DELETE", "/api/categories/pets"),
        ("GET", "/api/expenses/imports/latest"),
    ):
        response = await client.request(method, path, headers=account.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert detail(response) == f"no such route: {path}"
    missing = "/api/expenses/00000000-0000-4000-8000-000000000000"
    response = await client.get(missing, headers=account.headers)
    assert response.status_code == 404
    assert detail(response) == "no expense 00000000-0000-4000-8000-000000000000"


async def test_preferences_patch_changes_only_what_is_sent(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    url = "/api/notifications/preferences"
    digest = {"weekly_digest": False, "digest_weekday": "friday", "digest_hour": 18}
    off = await client.put(
        url, json={"in_app": True, "email": False, **digest}, headers=account.headers
    )
    assert off.json() == {"in_app": True, "email": False, **digest}
    patched = await client.patch(url, json={"in_app": False}, headers=account.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json() == {"in_app": False, "email": False, **digest}  # the rest stays
    assert (await client.get(url, headers=account.headers)).json() == patched.json()
    # PUT replaces, so it needs every field: a partial PUT no longer resets the rest.
    partial = await client.put(url, json={"in_app": True}, headers=account.headers)
    assert partial.status_code == 422
    assert "email" in error_text(partial)
    assert (await client.get(url, headers=account.headers)).json()["email"] is False
    null = await client.patch(url, json={"email": None}, headers=account.headers)
    assert null.status_code == 422


async def test_currency_changes_only_while_the_account_has_no_data(
    client: httpx.AsyncClient,
) -> None:
    account = await register_and_login(client)  # USD
    changed = await client.patch("/api/users/me", json={"currency": "EUR"}, headers=account.headers)
    assert (changed.status_code, changed.json()["currency"]) == (200, "EUR"), changed.text
    # The very next expense is in the new currency, without waiting for any event.
    expense = await spend(client, account, amount="4857.64", date="2026-10-05")
    assert expense["currency"] == "EUR"
    refused = await client.patch("/api/users/me", json={"currency": "USD"}, headers=account.headers)
    assert refused.status_code == 409, refused.text
    assert "recorded in EUR" in detail(refused)
    assert (await client.get("/api/users/me", headers=account.headers)).json()["currency"] == "EUR"
    summary = await client.get("/api/expenses/summary?month=2026-10", headers=account.headers)
    assert (summary.json()["currency"], summary.json()["total"]) == ("EUR", "4857.64")
    # Other profile changes still go through, and naming the same currency is no change.
    renamed = await client.patch(
        "/api/users/me", json={"name": "Ann", "currency": "EUR"}, headers=account.headers
    )
    assert renamed.status_code == 200

    with_budget = await register_and_login(client)
    budget = await client.post(
        "/api/budgets", json={"month": "2026-10", "amount": "100"}, headers=with_budget.headers
    )
    assert budget.status_code == 201

    # budget_service tells expense_service of a budget before answering: refused at once.
    response = await client.patch(
        "/api/users/me", json={"currency": "GBP"}, headers=with_budget.headers
    )
    assert response.status_code == 409, response.text
