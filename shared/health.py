"""``/health``: the process answers. ``/ready``: every dependency answers (503 if any does not)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse

ReadinessCheck = Callable[[], Awaitable[bool]]
CHECK_TIMEOUT_SECONDS = 2.0


async def run_checks(checks: Mapping[str, ReadinessCheck]) -> dict[str, bool]:
    async def guarded(check: ReadinessCheck) -> bool:
        try:
            return await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        except Exception:
            return False

    results = await asyncio.gather(*(guarded(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


def health_router(checks: Callable[[], Mapping[str, ReadinessCheck]]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health", summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", summary="Every dependency is reachable (503 otherwise)")
    async def ready() -> JSONResponse:
        results = await run_checks(checks())
        ok = all(results.values())
        return JSONResponse(
            {"status": "ready" if ok else "unavailable", "checks": results},
            status_code=200 if ok else 503,
        )

    return router
