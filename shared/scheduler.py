"""A background loop for work that falls due at known times (recurring expenses in
expense_service, weekly digests in notification_service).

The work is kept in Mongo with its due time, indexed. Each pass the owner's ``tick`` does what is
due by now and answers when the next thing falls due within ``horizon`` (None: nothing does).
The loop sleeps until then, or until ``wake`` (a write in this process made something due), or
until the horizon, whichever comes first: so an idle service makes one indexed range query per
horizon, and work written by another replica is seen within one horizon even if that replica
died before doing it. Every replica runs a loop; ``tick`` must make each piece of work happen
once however many run it (a compare-and-set on the work's own document).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from shared import clock

log = logging.getLogger(__name__)

Tick = Callable[[datetime, datetime], Awaitable[datetime | None]]
RETRY_SECONDS = 5.0


class Scheduler:
    def __init__(self, name: str, tick: Tick, horizon_seconds: float) -> None:
        self.name = name
        self._tick = tick
        self._horizon = horizon_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look again now (after a commit that made something due)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            now = clock.now()
            try:
                upcoming = await self._tick(now, now + timedelta(seconds=self._horizon))
            except Exception:
                log.exception("%s: a pass failed; trying again in %.0f s", self.name, RETRY_SECONDS)
                delay = min(RETRY_SECONDS, self._horizon)
            else:
                delay = self._horizon
                if upcoming is not None:
                    delay = min(delay, max(0.0, (upcoming - clock.now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
