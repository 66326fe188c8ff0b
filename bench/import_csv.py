"""CSV import through the gateway: how long 10,000 and 50,000 rows take to import, and to be
reflected in budget status and the analytics summary (events batched per 500 rows).

    .venv/bin/python -m bench.import_csv [rows ...]
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from decimal import Decimal

import httpx

from bench.common import bench_stack
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


async def measure(gateway: str, rows: int) -> None:
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
    with bench_stack() as (stack, _, _):
        for rows in sizes:
            asyncio.run(measure(stack.gateway_url, rows))


if __name__ == "__main__":
    main()
