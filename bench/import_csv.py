"""CSV import through the gateway: how long 10,000 and 50,000 rows take to import, and to be
reflected in budget status and the analytics summary, alone and while other users sign up and
spend; and how long those users wait meanwhile (one user's burst must not hold up everyone
else's requests and alerts).

    .venv/bin/python -m bench.import_csv [rows ...]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from decimal import Decimal
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.common import bench_stack
from bench.targets import settled, this_month
from tests.support import register_and_login

CATEGORIES = ("food", "travel", "shopping", "bills", "other")


def csv_file(rows: int, month: str) -> tuple[bytes, Decimal]:
    rng = random.Random(rows)  # noqa: S311 - test data
    lines = ["date,amount,category,description"]
    total = Decimal(0)
    for n in range(rows):
        cents = rng.randint(1, 20_000)
        total += Decimal(cents) / 100
        day = 1 + n % 28
        lines.append(
            f"{month}-{day:02d},{Decimal(cents) / 100:.2f},{rng.choice(CATEGORIES)},row {n}"
        )
    return ("\n".join(lines) + "\n").encode(), total


async def bystanders(
    gateway: str, mongodb_url: str, until: asyncio.Event
) -> tuple[list[float], list[float]]:
    """Other users, one every half second while ``until`` is not set, each signing up and
    spending 9.00 of a 10.00 food budget (an 80% alert): how long each one's three requests took
    (a stalled request shows here), and the lag from the POST answered to the alert stored."""
    month = this_month()
    answered: dict[str, float] = {}
    rounds: list[float] = []
    async with httpx.AsyncClient(base_url=gateway, timeout=120) as client:
        while not until.is_set():
            began = time.perf_counter()
            account = await register_and_login(client)
            budget = {"month": month, "category": "food", "amount": "10"}
            created = await client.post("/api/budgets", json=budget, headers=account.headers)
            assert created.status_code == 201, created.text
            body = {"amount": "9", "category": "food", "date": f"{month}-01"}
            spent = await client.post("/api/expenses", json=body, headers=account.headers)
            assert spent.status_code == 201, spent.text
            answered[account.user["id"]] = time.time()
            rounds.append((time.perf_counter() - began) * 1000)
            await asyncio.sleep(0.5)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    try:
        await settled(mongodb_url, limit=600)
        lags = []
        for user_id, at in answered.items():
            alert = await mongo["notifications"].notifications.find_one(
                {"user_id": user_id, "type": "budget.threshold_reached"}
            )
            assert alert is not None, f"no alert for {user_id}"
            lags.append((alert["created_at"].timestamp() - at) * 1000)
        return rounds, lags
    finally:
        await mongo.close()


async def measure(gateway: str, mongodb_url: str, rows: int) -> None:
    """The import alone, then again while other users sign up and spend."""
    print("alone:")
    await import_and_wait(gateway, rows)
    print("with other users:")
    done = asyncio.Event()
    others = asyncio.create_task(bystanders(gateway, mongodb_url, done))
    try:
        await import_and_wait(gateway, rows)
    finally:
        done.set()
    rounds, lags = await others
    rounds.sort()
    lags.sort()
    print(
        f"  other users meanwhile ({len(lags)}): sign-up + budget + expense p50"
        f" {statistics.median(rounds):.0f} ms, max {rounds[-1]:.0f} ms;"
        f" alert lag p50 {statistics.median(lags):.0f} ms, max {lags[-1]:.0f} ms"
    )


async def import_and_wait(gateway: str, rows: int) -> None:
    async with httpx.AsyncClient(base_url=gateway, timeout=120) as client:
        account = await register_and_login(client)
        month = "2026-03"
        budget = await client.post(
            "/api/budgets",
            json={"month": month, "amount": "100000000"},
            headers=account.headers,
        )
        assert budget.status_code == 201, budget.text
        content, total = csv_file(rows, month)
        started = time.perf_counter()
        response = await client.post(
            "/api/expenses/import",
            content=content,
            headers={**account.headers, "Content-Type": "text/csv"},
        )
        answered = time.perf_counter() - started
        assert response.status_code in (200, 202), response.text[:500]
        result = response.json()
        if response.status_code == 202:
            while result["state"] == "running":
                await asyncio.sleep(0.5)
                status = await client.get(response.headers["Location"], headers=account.headers)
                result = status.json()
                print(f"  {time.perf_counter() - started:6.1f} s: {result['processed']} rows")
        imported_at = time.perf_counter() - started
        assert result["imported"] == rows, result
        want = f"{total:.2f}"
        budgets_at = analytics_at = None
        while budgets_at is None or analytics_at is None:
            if time.perf_counter() - started > 600:
                raise TimeoutError("not reflected within 600 s")
            if budgets_at is None:
                status = await client.get(
                    f"/api/budgets/status?month={month}", headers=account.headers
                )
                if status.status_code == 200 and status.json()[0]["spent"] == want:
                    budgets_at = time.perf_counter() - started
            if analytics_at is None:
                summary = await client.get(
                    f"/api/analytics/summary?month={month}", headers=account.headers
                )
                if summary.status_code == 200 and summary.json()["expense"] == want:
                    analytics_at = time.perf_counter() - started
            await asyncio.sleep(0.2)
        print(
            f"{rows:>6} rows ({len(content) / 2**20:.1f} MiB): answered "
            f"{response.status_code} in {answered:.1f} s; all imported after {imported_at:.1f} s; "
            f"budget status right after {budgets_at:.1f} s, analytics after {analytics_at:.1f} s"
        )


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [10_000, 50_000]
    # Registration is not what is measured here: cheap password hashing, no sign-up limit.
    env = {"AUTH_IP_LIMIT": "1000000", "BCRYPT_ROUNDS": "4", "BCRYPT_QUEUE_LIMIT": "10000"}
    with bench_stack(env) as (stack, _, _):
        for rows in sizes:
            asyncio.run(measure(stack.gateway_url, stack.mongodb_url or "", rows))


if __name__ == "__main__":
    main()
