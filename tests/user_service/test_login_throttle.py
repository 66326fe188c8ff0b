"""Failed logins per account, against a real Mongo-wire server, on a clock the test moves."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from shared import ratelimit
from shared.errors import RateLimitedError
from shared.mongo import Mongo
from user_service.accounts import LoginThrottle
from user_service.settings import Settings

WINDOW = 60


async def test_failures_on_both_sides_of_a_window_boundary_still_lock(
    fresh_mongo: Mongo, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ratelimit.create_rate_limit_indexes(fresh_mongo.db)
    boundary = 30_000_000 * WINDOW
    clock = SimpleNamespace(now=boundary - 1.0)
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: clock.now))
    settings = SimpleNamespace(login_failure_limit=10, login_failure_window_seconds=WINDOW)
    throttle = LoginThrottle(fresh_mongo.db, cast(Settings, cast(Any, settings)))

    async def fail(times: int) -> None:
        for _ in range(times):
            await (await throttle.attempt("victim@example.com")).failed()

    await fail(9)  # the last second of one window
    clock.now = boundary + 1.0
    await fail(1)  # the first second of the next: ten in two seconds
    with pytest.raises(RateLimitedError) as refused:
        await throttle.attempt("victim@example.com")
    assert refused.value.headers == {"Retry-After": str(WINDOW - 1)}

    # Once the window holding the nine has passed out of sight, the one failure left is no lock.
    clock.now = boundary + WINDOW + 1.0
    attempt = await throttle.attempt("victim@example.com")
    await attempt.withdraw()  # as a successful login does
