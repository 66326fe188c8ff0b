"""Budgets through the gateway: status, alerts exactly once, re-arming, hard limits."""

from __future__ import annotations

import asyncio
import calendar
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import aio_pika
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient

from tests.e2e.conftest import E2E
from tests.e2e.problems import detail
from tests.support import Account, event_tap, eventually, register_and_login


async def set_budget(client: httpx.AsyncClient, account: Account, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/budgets", json=body, headers=account.headers)
    assert response.status_code in (200, 201), response.text
    budget: dict[str, Any] = response.json()
    return budget


async def spend(
    client: httpx.AsyncClient,
    account: Account,
    amount: str,
    day: str,
    category: str = "food",
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        "/api/expenses",
        headers=account.headers,
        json={"amount": amount, "date": day, "category": category, **extra},
    )


async def status_of(
    client: httpx.AsyncClient, account: Account, month: str
) -> dict[str | None, dict[str, Any]]:
    response = await client.get(
        "/api/budgets/status", params={"month": month}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    return {entry["category"]: entry for entry in response.json()}


async def settled(
    client: httpx.AsyncClient, account: Account, month: str, category: str | None, spent: str
) -> dict[str | None, dict[str, Any]]:
    """The status once budget_service has caught up with the expense events."""

    async def caught_up() -> dict[str | None, dict[str, Any]] | None:
        status = await status_of(client, account, month)
        return status if status[category]["spent"] == spent else None

    # Eventual consistency, not a speed check: a burst of one user's events is handled in turn.
    status = await eventually(caught_up, timeout=15)
    assert status, f"{category} in {month} never reached {spent}"
    return status  # type: ignore[no-any-return]


def alerts(tap_bodies: list[dict[str, Any]], account: Account) -> list[dict[str, Any]]:
    return [b["data"] for b in tap_bodies if b["user_id"] == account.user["id"]]


async def committed_alerts(e2e: E2E, account: Account) -> list[dict[str, Any]]:
    """Every alert budget_service has decided for this user, from its outbox. An alert is
    decided in the same transaction that applies the expense event, so once the status shows
    the spending, this list is final: no pause needed to see that nothing more comes."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(e2e.mongodb_url)
    try:
        entries = mongo["budgets"].outbox.find(
            {
                "envelope.type": "budget.threshold_reached",
                "envelope.user_id": account.user["id"],
            }
        )
        return [entry["envelope"]["data"] async for entry in entries]
    finally:
        await mongo.close()


async def all_published(tap: Any, e2e: E2E, account: Account) -> list[dict[str, Any]]:
    """The committed alerts, once each has also reached the tap; returns them."""
    decided = await committed_alerts(e2e, account)

    async def published() -> bool:
        return len(alerts(tap.bodies(), account)) >= len(decided)

    assert await eventually(published, what="the committed alerts on the bus")
    return decided


async def test_status_math_to_the_cent_and_states(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client, currency="EUR")
    overall = await set_budget(client, account, month="2026-10", amount="1000")
    food = await set_budget(
        client,
        account,
        month="2026-10",
        category="Food",
        amount="300",
        thresholds=[1.0, 0.5, "0.8"],
    )
    await set_budget(client, account, month="2026-10", category="travel", amount="200.00")
    assert food["thresholds"] == ["0.5", "0.8", "1"]
    for amount, category in (
        ("100.10", "food"),
        ("50.05", "food"),
        ("199.99", "travel"),
        ("10.01", "shopping"),
    ):
        assert (await spend(client, account, amount, "2026-10-03", category)).status_code == 201
    await spend(client, account, "5000", "2026-10-01", "other", kind="income")
    await spend(client, account, "20", "2026-11-01", "food")  # another month

    status = await settled(client, account, "2026-10", None, "360.15")
    assert status[None]["budget_id"] == overall["id"]
    assert (
        status[None]["amount"],
        status[None]["remaining"],
        status[None]["percent_used"],
        status[None]["state"],
    ) == ("1000.00", "639.85", "36.02", "ok")
    assert (
        status["food"]["spent"],
        status["food"]["remaining"],
        status["food"]["percent_used"],
        status["food"]["state"],
    ) == ("150.15", "149.85", "50.05", "warning")
    assert (status["travel"]["spent"], status["travel"]["state"]) == ("199.99", "warning")
    assert status["travel"]["currency"] == "EUR"
    # October is over: the pace projects what was spent, and no days are left.
    assert (status["food"]["projected_spend"], status["food"]["days_left"]) == ("150.15", 0)
    assert "shopping" not in status

    await spend(client, account, "0.01", "2026-10-31", "travel")
    status = await settled(client, account, "2026-10", "travel", "200.00")
    assert (status["travel"]["state"], status["travel"]["remaining"]) == ("exceeded", "0.00")
    await spend(client, account, "50", "2026-10-31", "travel")
    status = await settled(client, account, "2026-10", "travel", "250.00")
    assert (status["travel"]["remaining"], status["travel"]["percent_used"]) == ("-50.00", "125.00")


async def test_pace_projects_this_month_in_the_users_time_zone(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client, timezone="UTC")
    today = datetime.now(UTC)
    month = today.strftime("%Y-%m")
    await set_budget(client, account, month=month, amount="3100")
    await spend(client, account, "79.99", f"{month}-01")
    status = await settled(client, account, month, None, "79.99")
    days = calendar.monthrange(today.year, today.month)[1]
    # Rounded half up to the cent (on day 22 of 30: 109.0773 -> 109.08, never 109.07).
    expected = (Decimal("79.99") * days / today.day).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert status[None]["projected_spend"] == str(expected)
    assert status[None]["days_left"] == days - today.day

    async def forecast() -> dict[str, Any] | None:
        response = await client.get(
            "/api/analytics/forecast", params={"month": month}, headers=account.headers
        )
        body: dict[str, Any] = response.json()
        return body if body["overall"]["spent"] == "79.99" else None

    # analytics_service projects with the same formula
    found = await eventually(forecast, timeout=15)
    assert found, "analytics never saw the expense"
    assert found["overall"]["projected"] == str(expected)


async def test_alerts_once_per_threshold_with_two_consumer_processes(
    client: httpx.AsyncClient,
    e2e: E2E,
) -> None:
    account = await register_and_login(client)
    replica = await asyncio.to_thread(e2e.stack.start_replica, "budget_service")
    replica_url = f"http://127.0.0.1:{e2e.stack.ports[replica]}"

    try:
        await asyncio.to_thread(e2e.stack.wait_service_ready, replica)
        before = {
            url: await handled(url)
            for url in (e2e.stack.service_url("budget_service"), replica_url)
        }
        budget = await set_budget(client, account, month="2026-09", category="food", amount="500")
        async with event_tap(e2e.amqp_url, e2e.names.exchange, "budget.threshold_reached") as tap:
            responses = await asyncio.gather(
                *(spend(client, account, "10.00", "2026-09-15") for _ in range(50))
            )
            assert [r.status_code for r in responses] == [201] * 50
            await settled(client, account, "2026-09", "food", "500.00")
            decided = await all_published(tap, e2e, account)
        fired = alerts(tap.bodies(), account)
        assert len(decided) == len(fired)
        assert sorted(Decimal(a["threshold"]) for a in fired) == [Decimal("0.8"), Decimal("1")]
        at_80 = next(a for a in fired if Decimal(a["threshold"]) == Decimal("0.8"))
        assert at_80["budget_id"] == budget["id"]
        assert (at_80["month"], at_80["category"], at_80["limit"], at_80["currency"]) == (
            "2026-09",
            "food",
            "500.00",
            "USD",
        )
        assert Decimal("400.00") <= Decimal(at_80["spent"]) < Decimal("500.00")
        # Both processes took a share of the 50 events.
        for url, count in before.items():
            assert await handled(url) > count, url
    finally:
        e2e.stack.kill(replica)


async def handled(service_url: str, event_type: str = "expense.created") -> float:
    """How many events of a type a service process has handled, from its /metrics."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{service_url}/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "events_handled_total"
        and sample.labels["type"] == event_type
        and sample.labels["outcome"] == "handled"
    )


async def hard_limit_known(e2e: E2E, before: float) -> None:
    """Waits until expense_service has taken in a budget.upserted sent after ``before``."""
    url = e2e.stack.service_url("expense_service")

    async def arrived() -> bool:
        return await handled(url, "budget.upserted") > before

    assert await eventually(arrived, timeout=5)


async def test_moves_fix_both_months_deletes_rearm_and_second_crossing_alerts(
    client: httpx.AsyncClient,
    e2e: E2E,
) -> None:
    account = await register_and_login(client)
    for month in ("2026-05", "2026-06"):
        await set_budget(client, account, month=month, category="food", amount="100")
    async with event_tap(e2e.amqp_url, e2e.names.exchange, "budget.threshold_reached") as tap:
        expense = (await spend(client, account, "90", "2026-05-10")).json()
        await settled(client, account, "2026-05", "food", "90.00")
        moved = await client.patch(
            f"/api/expenses/{expense['id']}", headers=account.headers, json={"date": "2026-06-10"}
        )
        assert moved.status_code == 200
        june = await settled(client, account, "2026-06", "food", "90.00")
        may = await status_of(client, account, "2026-05")
        assert (may["food"]["spent"], may["food"]["state"]) == ("0.00", "ok")
        assert june["food"]["state"] == "warning"

        await client.delete(f"/api/expenses/{expense['id']}", headers=account.headers)
        await settled(client, account, "2026-06", "food", "0.00")
        await spend(client, account, "85", "2026-06-11")
        await settled(client, account, "2026-06", "food", "85.00")
        await all_published(tap, e2e, account)
    fired = Counter((a["month"], a["threshold"]) for a in alerts(tap.bodies(), account))
    assert fired == {("2026-05", "0.8"): 1, ("2026-06", "0.8"): 2}


async def test_budget_set_past_a_threshold_alerts_and_raising_rearms(
    client: httpx.AsyncClient,
    e2e: E2E,
) -> None:
    account = await register_and_login(client)
    await spend(client, account, "90", "2026-04-02")
    # budget_service has the expense (its overall status counts it) before the budget exists.
    overall = await set_budget(client, account, month="2026-04", amount="100000")
    await settled(client, account, "2026-04", None, "90.00")
    await client.delete(f"/api/budgets/{overall['id']}", headers=account.headers)
    async with event_tap(e2e.amqp_url, e2e.names.exchange, "budget.threshold_reached") as tap:
        budget = await set_budget(client, account, month="2026-04", category="food", amount="100")
        assert await eventually(lambda: asyncio.sleep(0, alerts(tap.bodies(), account)))
        raised = await client.patch(
            f"/api/budgets/{budget['id']}", headers=account.headers, json={"amount": "200"}
        )
        assert raised.json()["amount"] == "200.00"
        assert raised.json()["version"] == 2
        await spend(client, account, "75", "2026-04-03")  # 165 of 200: past 80% again
        await settled(client, account, "2026-04", "food", "165.00")
        await all_published(tap, e2e, account)
    fired = [(a["threshold"], a["limit"]) for a in alerts(tap.bodies(), account)]
    assert fired == [("0.8", "100.00"), ("0.8", "200.00")]


async def test_hard_limit_admits_no_more_than_fits(client: httpx.AsyncClient, e2e: E2E) -> None:
    account = await register_and_login(client)
    before = await handled(e2e.stack.service_url("expense_service"), "budget.upserted")
    budget = await set_budget(client, account, month="2026-07", amount="100", hard_limit=True)
    await hard_limit_known(e2e, before)
    responses = await asyncio.gather(
        *(spend(client, account, "15", "2026-07-02", "travel") for _ in range(20))
    )
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 6, 409: 14}
    refusal = next(r for r in responses if r.status_code == 409).json()["detail"]
    assert budget["id"] in refusal
    assert "10.00 of 100.00 remain" in refusal
    await settled(client, account, "2026-07", None, "90.00")
    listed = (
        await client.get("/api/expenses", params={"month": "2026-07"}, headers=account.headers)
    ).json()
    assert listed["total"] == 6
    # Income never counts, and other months are free.
    assert (await spend(client, account, "500", "2026-07-03", kind="income")).status_code == 201
    assert (await spend(client, account, "500", "2026-08-03")).status_code == 201
    # An update that would go over is refused too, and leaves the expense as it was.
    first = listed["items"][0]
    over = await client.patch(
        f"/api/expenses/{first['id']}", headers=account.headers, json={"amount": "26"}
    )
    assert over.status_code == 409
    fits = await client.patch(
        f"/api/expenses/{first['id']}", headers=account.headers, json={"amount": "25"}
    )
    assert fits.status_code == 200


@contextlib.asynccontextmanager
async def withheld(e2e: E2E, service: str, event_type: str) -> AsyncIterator[None]:
    """Unbinds ``service``'s queue from ``event_type``: what it keeps from those events lags
    for as long as this lasts, as it would behind a long queue (other services still get them;
    the events published meanwhile never reach it, so use a throw-away account)."""
    queue_name = f"{e2e.names.queue_prefix}{service}.events"
    connection = await aio_pika.connect(e2e.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(e2e.names.exchange)
        queue = await channel.get_queue(queue_name)
        await queue.unbind(exchange, routing_key=event_type)
        try:
            yield
        finally:
            await queue.bind(exchange, routing_key=event_type)


async def test_hard_limit_applies_from_the_answer_even_when_events_lag(
    client: httpx.AsyncClient, e2e: E2E
) -> None:
    account = await register_and_login(client)
    await spend(client, account, "40", "2026-01-05", "bills")  # before any budget
    async with withheld(e2e, "expense_service", "budget.upserted"):
        await set_budget(client, account, month="2026-01", amount="100", hard_limit=True)
        responses = await asyncio.gather(
            *(spend(client, account, "15", "2026-01-02", "travel") for _ in range(20))
        )
        codes = Counter(r.status_code for r in responses)
        assert codes == {201: 4, 409: 16}, [r.text for r in responses if r.status_code != 409]

        # Switched to hard: a soft category budget, then PATCH hard_limit.
        food = await set_budget(client, account, month="2026-03", category="food", amount="20")
        # Spending from before the limit was hard counts at once, even when budget_service
        # has not had its event.
        async with withheld(e2e, "budget_service", "expense.created"):
            assert (await spend(client, account, "15", "2026-03-03")).status_code == 201
            hard = await client.patch(
                f"/api/budgets/{food['id']}", headers=account.headers, json={"hard_limit": True}
            )
            assert hard.status_code == 200, hard.text
            assert (await spend(client, account, "6", "2026-03-03")).status_code == 409
        assert (await spend(client, account, "6", "2026-03-03", "bills")).status_code == 201

        # Lowered: a hard budget of another month, then a smaller amount.
        feb = await set_budget(client, account, month="2026-02", amount="100", hard_limit=True)
        assert (await spend(client, account, "50", "2026-02-03")).status_code == 201
        lowered = await client.patch(
            f"/api/budgets/{feb['id']}", headers=account.headers, json={"amount": "60"}
        )
        assert lowered.status_code == 200, lowered.text
        assert (await spend(client, account, "11", "2026-02-04")).status_code == 409
        assert (await spend(client, account, "10", "2026-02-04")).status_code == 201


async def test_ordinary_expenses_are_accepted_while_budget_service_is_down(
    client: httpx.AsyncClient,
    e2e: E2E,
) -> None:
    account = await register_and_login(client)
    await set_budget(
        client, account, month="2026-03", category="bills", amount="50", hard_limit=True
    )
    # No wait: a hard limit is in expense_service's copy before the budget's answer.
    stack = e2e.stack
    await asyncio.to_thread(stack.kill, "budget_service")
    try:
        ordinary = await spend(client, account, "12.00", "2026-03-05", "food")
        assert ordinary.status_code == 201
        limited = await spend(client, account, "5.00", "2026-03-05", "bills")
        assert limited.status_code == 503
        assert "budget service cannot be reached" in limited.json()["detail"]
        down = await client.get("/api/budgets/status", headers=account.headers)
        assert down.status_code == 503
    finally:
        await asyncio.to_thread(stack.start_service, "budget_service")
        await asyncio.to_thread(stack.wait_service_ready, "budget_service")
    assert (await spend(client, account, "5.00", "2026-03-05", "bills")).status_code == 201


async def test_repeat_shorthands_crud_and_bad_input(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    repeating = await set_budget(client, account, month="2026-01", amount="400", repeat=True)
    march = await client.get("/api/budgets", params={"month": "2026-03"}, headers=account.headers)
    assert [b["id"] for b in march.json()] == [repeating["id"]]
    await set_budget(client, account, month="2026-02", amount="450")  # February only
    status = await status_of(client, account, "2026-02")
    assert (status[None]["amount"], status[None]["repeated_from"]) == ("450.00", None)
    status = await status_of(client, account, "2026-03")
    assert (status[None]["amount"], status[None]["repeated_from"]) == ("400.00", "2026-01")

    same = await client.post(
        "/api/budgets",
        headers=account.headers,
        json={"month": "2026-01", "amount": "410", "repeat": True},
    )
    assert same.status_code == 200
    assert same.json()["id"] == repeating["id"]

    shorthand = await client.post("/api/budget", json={"amount": "999.99"}, headers=account.headers)
    assert shorthand.status_code == 201
    assert shorthand.json()["month"] == datetime.now(UTC).strftime("%Y-%m")
    monthly = await client.get("/api/budget/status", headers=account.headers)
    assert (monthly.json()["amount"], monthly.json()["state"]) == ("999.99", "ok")
    # Again: only the amount changes; a hard limit set meanwhile stays.
    await client.patch(
        f"/api/budgets/{shorthand.json()['id']}", headers=account.headers, json={"hard_limit": True}
    )
    again = await client.post("/api/budget", json={"amount": "1200"}, headers=account.headers)
    assert again.status_code == 200
    assert (again.json()["amount"], again.json()["hard_limit"], again.json()["id"]) == (
        "1200.00",
        True,
        shorthand.json()["id"],
    )

    got = await client.get(f"/api/budgets/{repeating['id']}", headers=account.headers)
    assert got.json()["amount"] == "410.00"
    stranger = await register_and_login(client)
    for method in ("GET", "PATCH", "DELETE"):
        foreign = await client.request(
            method,
            f"/api/budgets/{repeating['id']}",
            headers=stranger.headers,
            json={"amount": 1} if method == "PATCH" else None,
        )
        assert foreign.status_code == 404, method
    deleted = await client.delete(f"/api/budgets/{repeating['id']}", headers=account.headers)
    assert deleted.status_code == 204
    assert (
        await client.get(f"/api/budgets/{repeating['id']}", headers=account.headers)
    ).status_code == 404

    for body in (
        {"month": "2026-01", "amount": -5},
        {"month": "2026-13", "amount": 5},
        {"month": "2026-01", "amount": 5, "thresholds": [0]},
        {"month": "2026-01", "amount": 5, "thresholds": [2.01]},
        {"month": "2026-01", "amount": 5, "thresholds": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]},
        {"month": {"$gt": ""}, "amount": 5},
        {"month": "2026-01", "amount": {"$ne": 1}},
        {"month": "2026-01", "amount": 5, "category": {"$ne": None}},
    ):
        response = await client.post("/api/budgets", json=body, headers=account.headers)
        assert response.status_code == 422, body
        assert response.json()["detail"]
    bad_month = await client.get(
        "/api/budgets/status", params={"month": "2026-13"}, headers=account.headers
    )
    assert bad_month.status_code == 422
    assert (await client.get("/api/budgets", headers=account.headers)).status_code == 200


@pytest.mark.parametrize("path", ["/api/budgets", "/api/budgets/status", "/api/budget/status"])
async def test_budget_routes_need_a_token(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401


async def test_budget_for_an_unknown_category_is_refused_like_an_expense(
    client: httpx.AsyncClient,
) -> None:
    account = await register_and_login(client)
    budget = await client.post(
        "/api/budgets",
        json={"month": "2026-11", "category": "nope", "amount": "50"},
        headers=account.headers,
    )
    expense = await spend(client, account, "5", "2026-11-02", "nope")
    assert (budget.status_code, expense.status_code) == (422, 422), budget.text
    assert "unknown category 'nope'" in detail(budget)
    assert "unknown category 'nope'" in detail(expense)
    listed = await client.get("/api/budgets?month=2026-11", headers=account.headers)
    assert listed.json() == []
    # Once the category exists (any case), the budget is accepted.
    created = await client.post("/api/categories", json={"name": "Pets"}, headers=account.headers)
    assert created.status_code == 201
    pets = await client.post(
        "/api/budgets",
        json={"month": "2026-11", "category": "PETS", "amount": "50"},
        headers=account.headers,
    )
    assert pets.status_code == 201, pets.text
    assert pets.json()["category"] == "pets"


async def test_budget_change_is_refused_whole_while_expense_service_is_down(
    client: httpx.AsyncClient, e2e: E2E
) -> None:
    """A budget must reach expense_service before it is saved (hard limits apply from the
    answer on, and a budget counts for currency changes): unreachable, nothing is saved."""
    account = await register_and_login(client)
    stack = e2e.stack
    await asyncio.to_thread(stack.kill, "expense_service")
    try:
        refused = await client.post(
            "/api/budgets",
            json={"month": "2026-06", "amount": "100", "hard_limit": True},
            headers=account.headers,
        )
        assert refused.status_code == 503, refused.text
        assert "nothing was changed" in detail(refused)
        listed = await client.get("/api/budgets?month=2026-06", headers=account.headers)
        assert listed.json() == []
    finally:
        await asyncio.to_thread(stack.start_service, "expense_service")
        await asyncio.to_thread(stack.wait_service_ready, "expense_service")
    saved = await client.post(
        "/api/budgets",
        json={"month": "2026-06", "amount": "100", "hard_limit": True},
        headers=account.headers,
    )
    assert saved.status_code == 201, saved.text
