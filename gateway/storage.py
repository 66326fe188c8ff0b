"""The gateway's database ``gateway``: token revocations (from user events) and rate counters."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from shared.mongo import Database


async def create_indexes(db: Database) -> None:
    await db.rate_limits.create_index("expires_at", expireAfterSeconds=0)


class Revocations:
    """Per user: the lowest token version still accepted, and whether the account is gone."""

    def __init__(self, db: Database) -> None:
        self._tokens = db.token_state

    async def refusal(self, user_id: str, token_version: int) -> str | None:
        state = await self._tokens.find_one({"_id": user_id})
        if state is None:
            return None
        if state.get("deleted"):
            return "account no longer exists"
        if token_version < state.get("token_version", 0):
            return "token has been revoked; log in again"
        return None


class RateLimiter:
    """Fixed-window counters in Mongo, so that every gateway replica sees the same counts."""

    def __init__(self, db: Database) -> None:
        self._counters = db.rate_limits

    @staticmethod
    def _window(key: str, window_seconds: int) -> tuple[str, float]:
        now = time.time()
        start = math.floor(now / window_seconds) * window_seconds
        return f"{key}:{start}", start + window_seconds - now

    async def hit(self, key: str, window_seconds: int) -> tuple[int, float]:
        """Counts one more event; returns the count in this window and seconds until it ends."""
        doc_id, remaining = self._window(key, window_seconds)
        expires_at = datetime.now(UTC) + timedelta(seconds=remaining + 1)
        for _ in range(2):  # two first hits at once: one insert wins, the other retries as $inc
            try:
                doc = await self._counters.find_one_and_update(
                    {"_id": doc_id},
                    {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires_at}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                assert doc is not None  # upsert with AFTER always returns the document
                return int(doc["count"]), remaining
            except DuplicateKeyError:
                continue
        raise RuntimeError("rate counter could not be updated")

    async def count(self, key: str, window_seconds: int) -> tuple[int, float]:
        doc_id, remaining = self._window(key, window_seconds)
        doc = await self._counters.find_one({"_id": doc_id})
        return (int(doc["count"]) if doc else 0), remaining
