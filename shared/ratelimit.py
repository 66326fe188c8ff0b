"""Fixed-window counters in Mongo, so that every replica of a service sees the same counts.

The gateway counts authentication requests per client address; user_service counts login
attempts per account. A counter is taken *before* the work it limits (one atomic ``$inc``), so
fifty parallel attempts cannot all slip in under a limit of ten.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.mongo import Database, Document

ATTEMPTS = 5


async def create_rate_limit_indexes(db: Database) -> None:
    await db.rate_limits.create_index("expires_at", expireAfterSeconds=0)


class RateLimitUnavailableError(Exception):
    """The counter could not be read or written; callers refuse (fail closed) with a 503."""


@dataclass(frozen=True)
class Window:
    """One counter's window: its document id, the seconds until it ends, and the id of the
    window before it (kept one window longer, for limits that must not reset at a boundary)."""

    doc_id: str
    remaining: float
    previous_id: str
    seconds: int

    @classmethod
    def now(cls, key: str, window_seconds: int) -> Window:
        now = time.time()
        start = math.floor(now / window_seconds) * window_seconds
        return cls(
            f"{key}:{start}",
            start + window_seconds - now,
            f"{key}:{start - window_seconds}",
            window_seconds,
        )

    @property
    def retry_after(self) -> str:
        return str(max(1, math.ceil(self.remaining)))


class RateLimiter:
    def __init__(self, db: Database) -> None:
        self._counters = db.rate_limits

    async def hit(self, key: str, window_seconds: int) -> tuple[int, Window]:
        """Counts one more event; returns the count in this window, this one included."""
        doc, window = await self.hit_document(key, window_seconds)
        return int(doc["count"]), window

    async def hit_document(self, key: str, window_seconds: int) -> tuple[Document, Window]:
        """Like ``hit``, returning the whole counter document (with any other fields)."""
        window = Window.now(key, window_seconds)
        # Kept through the next window too: ``earlier`` reads it then.
        expires_at = datetime.now(UTC) + timedelta(seconds=window.remaining + window_seconds + 1)
        for _ in range(ATTEMPTS):
            # Two first hits at once: one upsert inserts, the other fails on the duplicate _id
            # (or, on some servers, returns no document) and tries again as a plain $inc.
            try:
                doc = await self._counters.find_one_and_update(
                    {"_id": window.doc_id},
                    {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires_at}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue
            except PyMongoError as exc:  # fail closed: the caller answers 503
                raise RateLimitUnavailableError(f"rate counter {key}: {exc!r}") from exc
            if doc is not None:
                return doc, window
        raise RateLimitUnavailableError(f"rate counter {key} could not be updated")

    async def earlier(self, window: Window, field: str) -> int:
        """``field`` of the window before ``window`` (0 if nothing was counted then)."""
        try:
            doc = await self._counters.find_one({"_id": window.previous_id}, {field: 1})
        except PyMongoError as exc:
            raise RateLimitUnavailableError(f"rate counter: {exc!r}") from exc
        return int((doc or {}).get(field, 0))

    async def add(self, window: Window, field: str, amount: int) -> None:
        """Adds ``amount`` to ``field`` of an existing counter (e.g. takes back a hit)."""
        try:
            await self._counters.update_one({"_id": window.doc_id}, {"$inc": {field: amount}})
        except PyMongoError as exc:
            raise RateLimitUnavailableError(f"rate counter: {exc!r}") from exc
