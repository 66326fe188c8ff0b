"""CSV export memory: expense_service's resident memory while 10,000 and 100,000 rows stream
through the gateway. Streaming means the peak does not grow with the number of rows.

    .venv/bin/python -m bench.export_memory
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.common import bench_stack, rss_mib
from shared.mongo import utcnow


async def seed(mongodb_url: str, user_id: str, rows: int) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    expenses = client["expenses"].expenses
    now = utcnow()
    batch = []
    for i in range(rows):
        day = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"
        batch.append(
            {
                "_id": str(uuid.uuid4()),
                "user_id": user_id,
                "kind": "expense",
                "amount_cents": 100 + i % 5000,
                "currency": "USD",
                "base_amount_cents": 100 + i % 5000,
                "category": ("food", "travel", "bills")[i % 3],
                "description": f"expense number {i}, with a comma",
                "date": day,
                "month": day[:7],
                "tags": ["bench"],
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
        )
        if len(batch) == 5000:
            await expenses.insert_many(batch)
            batch = []
    if batch:
        await expenses.insert_many(batch)
    await client.close()


def export(gateway: str, token: str, pid: int) -> dict[str, float]:
    peak = rss_mib(pid)
    before = peak
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mib(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    lines = size = 0
    with httpx.stream(
        "GET",
        f"{gateway}/api/expenses/export.csv",
        headers={"Authorization": f"Bearer {token}"},
        timeout=300,
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\r\n")
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return {
        "rows": lines - 1,
        "mib": size / 2**20,
        "seconds": seconds,
        "rss_before": before,
        "rss_peak": peak,
    }


def main() -> None:
    with bench_stack() as (stack, _, _):
        gateway = stack.gateway_url
        pid = stack.processes["expense_service"].pid
        results = []
        for rows in (10_000, 100_000):
            email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
            user = httpx.post(
                f"{gateway}/api/auth/register", json={"email": email, "password": "bench password"}
            ).json()
            token = httpx.post(
                f"{gateway}/api/auth/login", json={"email": email, "password": "bench password"}
            ).json()["access_token"]
            asyncio.run(seed(stack.mongodb_url or "", user["id"], rows))
            results.append(export(gateway, token, pid))
    print("CSV export through the gateway (expense_service resident memory, MiB)")
    print(
        f"{'rows':>8} {'CSV MiB':>8} {'seconds':>8} {'rows/s':>8} {'RSS before':>11} "
        f"{'RSS peak':>9} {'growth':>7}"
    )
    for r in results:
        print(
            f"{r['rows']:>8.0f} {r['mib']:>8.1f} {r['seconds']:>8.2f} "
            f"{r['rows'] / r['seconds']:>8.0f} {r['rss_before']:>11.1f} {r['rss_peak']:>9.1f} "
            f"{r['rss_peak'] - r['rss_before']:>7.1f}"
        )


if __name__ == "__main__":
    main()
