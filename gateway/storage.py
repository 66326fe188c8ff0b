"""The gateway's database ``gateway``: the shared rate counters (shared.ratelimit)."""

from __future__ import annotations

from shared.mongo import Database
from shared.ratelimit import create_rate_limit_indexes


async def create_indexes(db: Database) -> None:
    await create_rate_limit_indexes(db)
