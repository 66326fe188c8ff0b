"""A collection of work items that processes take with a lease: the outbox's entries and
notification_service's emails are both one.

    pending ──claim──> in_flight ──done──> sent
        ^                  │
        └── retry(after) / lease expired (the process died mid-way) ──┘

A claim is one update conditioned on the item still being claimable and tagged with a token, so
two processes never take the same item; a claimed item's ``available_at`` is its lease's end, so
if its process dies, the item becomes claimable again. Work is therefore done at least once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from shared.mongo import Document


class LeaseState(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SENT = "sent"


async def create_lease_indexes(collection: AsyncCollection[dict[str, Any]]) -> None:
    await collection.create_index([("state", ASCENDING), ("available_at", ASCENDING)])
    await collection.create_index("claim", sparse=True)


class LeasedQueue:
    def __init__(self, collection: AsyncCollection[dict[str, Any]], *, lease: timedelta) -> None:
        self._items = collection
        self._lease = lease

    def _claim(self, token: str) -> Document:
        return {
            "$set": {
                "state": LeaseState.IN_FLIGHT.value,
                "claim": token,
                "available_at": datetime.now(UTC) + self._lease,
            },
            "$inc": {"attempts": 1},
        }

    @staticmethod
    def _claimable() -> Document:
        return {
            "state": {"$in": [LeaseState.PENDING.value, LeaseState.IN_FLIGHT.value]},
            "available_at": {"$lte": datetime.now(UTC)},
        }

    async def claim_due(self, limit: int) -> tuple[str, list[Document]]:
        """Up to ``limit`` items that are due (or whose lease ran out), oldest first."""
        claimable = self._claimable()
        candidates = [
            doc["_id"]
            async for doc in self._items.find(claimable, {"_id": 1})
            .sort([("state", ASCENDING), ("available_at", ASCENDING)])
            .limit(limit)
        ]
        token = uuid.uuid4().hex
        if not candidates:
            return token, []
        await self._items.update_many({"_id": {"$in": candidates}, **claimable}, self._claim(token))
        items = [doc async for doc in self._items.find({"claim": token}).sort("created_at", 1)]
        return token, items

    async def claim_ids(self, ids: list[str]) -> tuple[str, set[str]]:
        """Claims these pending items (just written by this process); returns the token and the
        ids it got (another process's sweep may have taken some first)."""
        token = uuid.uuid4().hex
        claimed = await self._items.update_many(
            {"_id": {"$in": ids}, "state": LeaseState.PENDING.value}, self._claim(token)
        )
        if claimed.modified_count == len(ids):
            return token, set(ids)
        return token, {doc["_id"] async for doc in self._items.find({"claim": token}, {"_id": 1})}

    async def renew(self, ids: list[str], token: str) -> set[str]:
        """Extends the lease of these items if this claim still holds them; returns those."""
        await self._items.update_many(
            {"_id": {"$in": ids}, "claim": token},
            {"$set": {"available_at": datetime.now(UTC) + self._lease}},
        )
        return {doc["_id"] async for doc in self._items.find({"claim": token, "_id": {"$in": ids}})}

    async def done(self, token: str, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            await self._items.update_many(
                {"_id": {"$in": ids}, "claim": token},
                {
                    "$set": {"state": LeaseState.SENT.value, "sent_at": datetime.now(UTC)},
                    "$unset": {"last_error": "", "claim": ""},
                },
            )

    async def retry(self, item_id: str, token: str, after: timedelta, error: str) -> None:
        """Back to pending, due again ``after`` from now, if this claim still holds it (another
        process may have taken it over when the lease ran out, and sent it)."""
        await self._items.update_one(
            {"_id": item_id, "claim": token},
            {
                "$set": {
                    "state": LeaseState.PENDING.value,
                    "last_error": error,
                    "available_at": datetime.now(UTC) + after,
                },
                "$unset": {"claim": ""},
            },
        )

    async def seconds_to_next(self) -> float | None:
        """Until the earliest unfinished item is due (0 if one is), None if there is none."""
        due = await self._items.find_one(
            {"state": {"$in": [LeaseState.PENDING.value, LeaseState.IN_FLIGHT.value]}},
            {"available_at": 1},
            sort=[("available_at", ASCENDING)],
        )
        if due is None:
            return None
        seconds: float = (due["available_at"] - datetime.now(UTC)).total_seconds()
        return max(0.0, seconds)
