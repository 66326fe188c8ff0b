"""The design's performance targets, measured on this machine with everything on it.

    .venv/bin/python -m bench.targets        (needs wrk: apt-get install wrk)

1. gateway hop: latency added by the gateway to GET /api/users/me (p50, p99), against calling
   user_service directly, sequential requests;
2. authenticated GET through the gateway: requests/s and p99 under load (wrk, 32 connections);
3. event lag: expense POST answered -> threshold notification stored, at 50 expenses/s;
4. resident memory of every service process afterwards.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.common import bench_stack, rss_mib

TARGETS = {
    "hop_p50_ms": 1.5,
    "hop_p99_ms": 5.0,
    "rps": 1000,
    "rps_p99_ms": 50,
    "lag_p99_ms": 100,
    "rss_mib": 120,
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed_gets(url: str, token: str, count: int) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=headers) as http:
        for _ in range(50):
            http.get(url).raise_for_status()  # warm connections and caches
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            http.get(url).raise_for_status()
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def wrk(url: str, token: str) -> tuple[float, float]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    out = subprocess.run(
        ["wrk", "-t2", "-c32", "-d10s", "--latency", "-H", f"Authorization: Bearer {token}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99 is not None, out
    value = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    return rps, value


async def event_lag(gateway: str, mongodb_url: str, users: int, rate: float) -> list[float]:
    """Each user has a 10.00 budget and spends 9.00 once: one 80% alert per expense."""
    month = datetime.now(UTC).strftime("%Y-%m")
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
        tokens = []
        for _ in range(users):
            email = f"lag-{uuid.uuid4().hex[:8]}@example.com"
            await http.post("/api/auth/register", json={"email": email, "password": "bench pw 1"})
            login = await http.post(
                "/api/auth/login", json={"email": email, "password": "bench pw 1"}
            )
            token = login.json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            await http.post(
                "/api/budgets",
                headers=headers,
                json={"month": month, "category": "food", "amount": "10"},
            )
            tokens.append(headers)
        await asyncio.sleep(2)
        answered: dict[str, float] = {}

        async def spend(headers: dict[str, str]) -> None:
            response = await http.post(
                "/api/expenses",
                headers=headers,
                json={"amount": "9", "category": "food", "date": f"{month}-01"},
            )
            response.raise_for_status()
            answered[headers["Authorization"]] = time.time()

        tasks = []
        for headers in tokens:
            tasks.append(asyncio.create_task(spend(headers)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
        await asyncio.sleep(3)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    try:
        lags = []
        async with httpx.AsyncClient(base_url=gateway) as http:
            for headers in tokens:
                me = (await http.get("/api/users/me", headers=headers)).json()
                doc = await mongo["notifications"].notifications.find_one(
                    {"user_id": me["id"], "type": "budget.threshold_reached"}
                )
                if doc is not None:
                    lags.append(
                        (doc["created_at"].timestamp() - answered[headers["Authorization"]]) * 1000
                    )
        return lags
    finally:
        await mongo.close()


def main() -> None:
    # Many throwaway accounts from one address: lift the auth limit, and hash their passwords
    # cheaply (bcrypt is not what is measured here).
    with bench_stack({"AUTH_IP_LIMIT": "100000", "BCRYPT_ROUNDS": "4"}) as (stack, _, _):
        gateway = stack.gateway_url
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        registered = httpx.post(
            f"{gateway}/api/auth/register",
            json={"email": email, "password": "bench pw 1"},
            timeout=30,
        )
        login = httpx.post(
            f"{gateway}/api/auth/login", json={"email": email, "password": "bench pw 1"}, timeout=30
        )
        if login.status_code != 200:
            raise SystemExit(f"login failed: {registered.text} {login.text}")
        token = login.json()["access_token"]
        direct = timed_gets(f"{stack.service_url('user_service')}/api/users/me", token, 2000)
        proxied = timed_gets(f"{gateway}/api/users/me", token, 2000)
        hop50 = statistics.median(proxied) - statistics.median(direct)
        hop99 = percentile(proxied, 99) - percentile(direct, 99)
        rps, rps_p99 = wrk(f"{gateway}/api/users/me", token)
        lags = asyncio.run(event_lag(gateway, stack.mongodb_url or "", users=150, rate=50))
        memory = {name: rss_mib(process.pid) for name, process in stack.processes.items()}

    def line(
        what: str, value: float, target: float, unit: str, higher_is_better: bool = False
    ) -> None:
        ok = value >= target if higher_is_better else value <= target
        print(
            f"{what:<46} {value:>9.2f} {unit:<5} target {'>=' if higher_is_better else '<='} "
            f"{target:<6} {'met' if ok else 'NOT MET'}"
        )

    print(
        f"direct user_service p50 {statistics.median(direct):.2f} ms, "
        f"p99 {percentile(direct, 99):.2f} ms; through gateway p50 "
        f"{statistics.median(proxied):.2f} ms, p99 {percentile(proxied, 99):.2f} ms"
    )
    line("gateway hop, added p50", hop50, TARGETS["hop_p50_ms"], "ms")
    line("gateway hop, added p99", hop99, TARGETS["hop_p99_ms"], "ms")
    line("authenticated GET through gateway", rps, TARGETS["rps"], "req/s", True)
    line("  its p99 latency", rps_p99, TARGETS["rps_p99_ms"], "ms")
    print(f"event lag: {len(lags)} of 150 alerts stored")
    if lags:
        line(
            "event lag p50 (POST answered -> stored)",
            statistics.median(lags),
            TARGETS["lag_p99_ms"],
            "ms",
        )
        line("event lag p99 at 50 expenses/s", percentile(lags, 99), TARGETS["lag_p99_ms"], "ms")
    for name, mib in sorted(memory.items()):
        line(f"resident memory: {name}", mib, TARGETS["rss_mib"], "MiB")


if __name__ == "__main__":
    main()
