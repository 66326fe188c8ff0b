"""The operator's path, proven: docker-compose.yml's stack, through the published gateway only.

The tests run in this order on one stack (conftest.py): a user's first session, restarts while
expenses flow, scaled-out consumers, down and up with the volumes kept, and production settings
refusing default credentials. Every wait is on a fact (health, a feed, a total), with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.compose.conftest import NO_ENGINE, SERVICES, Compose, engine_answers
from tests.support import Account, SseListener, eventually, listening, register_and_login

if not engine_answers():
    pytest.skip(NO_ENGINE, allow_module_level=True)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

MONTH = "2026-10"
DAY = f"{MONTH}-12"
STREAM = "/api/notifications/stream"
# What the first test leaves for the down-and-up test to find again.
remembered: dict[str, Any] = {}


@contextlib.asynccontextmanager
async def gateway(compose: Compose) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=compose.gateway_url, timeout=30) as client:
        yield client


async def get(client: httpx.AsyncClient, account: Account, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params, headers=account.headers)
    assert response.status_code == 200, (path, response.text)
    return response.json()


async def spend(
    client: httpx.AsyncClient, account: Account, amount: str, category: str = "food"
) -> None:
    response = await client.post(
        "/api/expenses",
        headers=account.headers,
        json={"amount": amount, "category": category, "date": DAY},
    )
    assert response.status_code == 201, response.text


async def budget(
    client: httpx.AsyncClient, account: Account, amount: str, category: str = "food"
) -> None:
    response = await client.post(
        "/api/budgets",
        headers=account.headers,
        json={"month": MONTH, "category": category, "amount": amount},
    )
    assert response.status_code == 201, response.text


async def alerts(client: httpx.AsyncClient, account: Account) -> list[dict[str, Any]]:
    feed = await get(client, account, "/api/notifications", limit=100)
    return [item for item in feed["items"] if item["type"] == "budget.threshold_reached"]


def thresholds(items: list[dict[str, Any]]) -> list[Decimal]:
    """The thresholds the alerts are for, in order: [0.8, 1] is each alert exactly once."""
    return sorted(Decimal(item["data"]["threshold"]) for item in items)


def live_alerts(listener: SseListener) -> list[dict[str, Any]]:
    return [json.loads(event["data"]) for event in listener.events]


async def food_status(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    statuses = await get(client, account, "/api/budgets/status", month=MONTH)
    [food] = [status for status in statuses if status["category"] == "food"]
    assert isinstance(food, dict)
    return food


async def settled_alerts(client: httpx.AsyncClient, account: Account) -> list[dict[str, Any]]:
    """The user's alerts once every earlier one is in: a marker alert (another budget, crossed
    after the rest) is awaited first, so a duplicate would be in by then. Without the marker."""
    await budget(client, account, "1.00", category="other")
    await spend(client, account, "1.00", category="other")

    async def marker() -> bool:
        return any(a["data"]["category"] == "other" for a in await alerts(client, account))

    await eventually(marker, timeout=60, what="the marker alert")
    return [a for a in await alerts(client, account) if a["data"]["category"] != "other"]


# -- a first session ------------------------------------------------------------------------------


async def test_a_first_session_through_the_gateway(compose: Compose) -> None:
    async with gateway(compose) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        [script] = [
            p for p in page.text.split('"') if p.startswith("/assets/") and p.endswith(".js")
        ]
        assert (await client.get(script)).status_code == 200

        account = await register_and_login(client, name="Compose")
        await budget(client, account, "100.00")
        async with listening(client, STREAM, account.headers) as live:
            await spend(client, account, "50.00")
            await spend(client, account, "31.00")

            async def alerted() -> bool:
                return bool(await alerts(client, account)) and bool(live.events)

            await eventually(alerted, timeout=30, what="the 80% alert in the feed and live")
            [alert] = await alerts(client, account)
            assert alert["title"] == "Food budget at 80%"
            assert live_alerts(live) == [alert]

        status = await food_status(client, account)
        assert (status["spent"], status["state"]) == ("81.00", "warning")

        async def analysed() -> Any:
            summary = await get(client, account, "/api/analytics/summary", month=MONTH)
            return summary if summary["expense"] == "81.00" else None

        summary = await eventually(analysed, timeout=30, what="analytics of both expenses")
        assert summary["count"] == 2
        remembered.update(
            account=account, status=status, summary=summary, alerts=await alerts(client, account)
        )


def test_images_run_as_non_root_and_log_json(compose: Compose) -> None:
    for service in SERVICES:
        [container] = compose.containers(service)
        config = compose.inspect(container)["Config"]
        assert isinstance(config, dict)
        assert config["User"] == "10001", service
        logs = subprocess.run(
            ["docker", "logs", container], capture_output=True, text=True, check=True
        )
        lines = (logs.stdout + logs.stderr).splitlines()
        assert lines, service
        for line in lines:
            record = json.loads(line)  # every line, uvicorn's own included
            assert record["service"] == service, line
        assert any("started" in json.loads(line)["message"] for line in lines), service


# -- restarts while expenses flow -----------------------------------------------------------------


async def flowing(
    client: httpx.AsyncClient, account: Account, restart: Callable[[], Coroutine[Any, Any, None]]
) -> int:
    """Posts 10.00 expenses one after another from before ``restart`` begins until after it
    ends (and at least 10); returns how many were accepted."""
    task = asyncio.create_task(restart())
    posted = 0
    while not task.done() or posted < 10:
        await spend(client, account, "10.00")
        posted += 1
    await task
    return posted


async def test_restarts_while_expenses_flow_lose_nothing(compose: Compose) -> None:
    async def restart(service: str) -> None:
        await asyncio.to_thread(compose, "restart", service)

    async with gateway(compose) as client:
        account = await register_and_login(client)
        await budget(client, account, "400.00")
        async with listening(client, STREAM, account.headers) as live:
            posted = await flowing(client, account, lambda: restart("budget_service"))
            posted += await flowing(client, account, lambda: restart("rabbitmq"))
            # Past 100% of the budget, whatever the pace: both thresholds crossed.
            while posted * 10 <= 400:
                await spend(client, account, "10.00")
                posted += 1
            total = f"{posted * 10}.00"
            await asyncio.to_thread(compose.wait_healthy, len(SERVICES) + 2)

            async def counted() -> bool:
                status = await food_status(client, account)
                summary = await get(client, account, "/api/analytics/summary", month=MONTH)
                return bool(status["spent"] == total and summary["expense"] == total)

            await eventually(counted, timeout=90, what=f"budget and analytics at {total}")
            listed = await get(client, account, "/api/expenses", month=MONTH, limit=1)
            assert listed["total"] == posted

            settled = await settled_alerts(client, account)
            assert thresholds(settled) == [Decimal("0.8"), Decimal("1")]
            live_ids = [a["id"] for a in live_alerts(live)]
            assert len(live_ids) == len(set(live_ids)), "an alert pushed twice"
            assert {a["id"] for a in settled} <= set(live_ids)


# -- scaled out -----------------------------------------------------------------------------------


def queue_consumers(compose: Compose) -> dict[str, int]:
    listed = compose(
        "exec", "-T", "rabbitmq", "rabbitmqctl", "-q", "list_queues", "name", "consumers"
    )
    rows = (line.split() for line in listed.stdout.splitlines())
    return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit()}


async def test_scaled_out_each_alert_once_and_every_stream_gets_it(compose: Compose) -> None:
    scaled = ("budget_service", "analytics_service", "notification_service")
    compose("up", "-d", "--no-recreate", *(f"--scale={name}=2" for name in scaled))
    await asyncio.to_thread(compose.wait_healthy, len(SERVICES) + len(scaled) + 2)

    async def both_consuming() -> bool:
        consumers = await asyncio.to_thread(queue_consumers, compose)
        return all(consumers.get(f"{name}.events") == 2 for name in scaled)

    await eventually(both_consuming, timeout=60, what="two consumers on each scaled queue")

    async with gateway(compose) as client, contextlib.AsyncExitStack() as streams:
        account = await register_and_login(client)
        await budget(client, account, "100.00")
        listeners = [
            await streams.enter_async_context(listening(client, STREAM, account.headers))
            for _ in range(4)
        ]
        for amount in ("45.00", "40.00", "20.00"):
            await spend(client, account, amount)

        async def everywhere() -> bool:
            return len(await alerts(client, account)) == 2 and all(
                len(listener.events) >= 2 for listener in listeners
            )

        await eventually(everywhere, timeout=60, what="both alerts in the feed and every stream")
        settled = await settled_alerts(client, account)
        assert thresholds(settled) == [Decimal("0.8"), Decimal("1")]
        for listener in listeners:
            pushed = [a for a in live_alerts(listener) if a["data"]["category"] == "food"]
            assert sorted(a["id"] for a in pushed) == sorted(a["id"] for a in settled)

        async def analysed() -> bool:
            summary = await get(client, account, "/api/analytics/summary", month=MONTH)
            return bool(summary["expense"] == "106.00" and summary["count"] == 4)

        await eventually(analysed, timeout=30, what="analytics counting each expense once")


# -- down and up again ----------------------------------------------------------------------------


async def test_down_and_up_keeps_data_and_the_signing_key(compose: Compose) -> None:
    account: Account = remembered["account"]
    begun = time.monotonic()
    compose("stop", "--timeout", "10")
    stopped_in = time.monotonic() - begun
    for container in compose.containers(every=True):
        state = compose.inspect(container)["State"]
        assert isinstance(state, dict)
        name = compose.inspect(container)["Name"]
        assert state["ExitCode"] == 0, f"{name} did not stop gracefully: {state}"
    assert stopped_in < 60, stopped_in

    compose("down")  # containers and network; the volumes stay
    assert not compose.containers(every=True)
    compose("up", "-d")
    await asyncio.to_thread(compose.wait_healthy, len(SERVICES) + 2)

    async with gateway(compose) as client:
        me = await client.get("/api/users/me", headers=account.headers)  # the old access token
        assert me.status_code == 200, me.text
        assert me.json()["email"] == account.email
        refreshed = await client.post(
            "/api/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        assert await food_status(client, account) == remembered["status"]
        summary = await get(client, account, "/api/analytics/summary", month=MONTH)
        assert summary == remembered["summary"]
        assert await alerts(client, account) == remembered["alerts"]
        # And it still works: one more expense reaches the budget.
        await spend(client, account, "20.00")

        async def exceeded() -> bool:
            return bool((await food_status(client, account))["spent"] == "101.00")

        await eventually(exceeded, timeout=30, what="the new expense in the budget")


# -- production settings --------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["user_service", "expense_service", "gateway"])
def test_production_refuses_default_credentials(compose: Compose, service: str) -> None:
    """RabbitMQ's well-known guest account, given by an operator: the service will not start."""
    guest = {"RABBITMQ_USER": "guest", "RABBITMQ_PASSWORD": "guest"}
    result = compose("run", "--rm", "--no-deps", service, check=False, env=guest, timeout=120)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "refusing to start in 'production' with default secrets" in output, output[-2000:]
    assert "AMQP_URL uses RabbitMQ's guest account" in output
