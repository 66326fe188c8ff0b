"""Transactional outbox: a change and its events commit together, a relay publishes them later.

``Outbox.unit_of_work()`` opens a Mongo transaction; events emitted in it are inserted into the
``outbox`` collection inside that same transaction, so there is never a change without its event
nor an event without its change. The relay then publishes each entry with publisher confirms and
marks it sent. Entry states:

    pending ──claim──> in_flight ──confirmed──> sent
        ^                  │
        └──── publish failed / lease expired (process died mid-publish) ────┘

A claimed entry carries a lease (``available_at``); if its process dies before marking it sent,
the lease runs out and another relay (or the same one after restart) publishes it again. Delivery
is therefore at least once, which is why consumers are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from shared.bus import EventBus
from shared.events import EventEnvelope, Payload
from shared.log import request_id_var
from shared.mongo import Database, Document, Mongo

log = logging.getLogger(__name__)

T = TypeVar("T")
CLAIM_LEASE = timedelta(seconds=30)
SENT_RETENTION_SECONDS = 7 * 24 * 3600


class OutboxState(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SENT = "sent"


@dataclass
class UnitOfWork:
    """One transaction: ``session`` for the writes, ``emit`` for the events that go with them.

    Emitted events are written to the outbox in one insert when the unit of work ends, still
    inside its transaction (an import emits thousands).
    """

    session: AsyncClientSession
    db: Database
    producer: str
    emitted: list[EventEnvelope] = field(default_factory=list)
    committed: list[Callable[[], None]] = field(default_factory=list)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Runs ``callback`` once the transaction has committed (e.g. to wake a worker that
        should now see what it wrote); not at all if it aborts."""
        self.committed.append(callback)

    async def emit(self, payload: Payload, *, user_id: str | None) -> EventEnvelope:
        envelope = EventEnvelope.of(payload, producer=self.producer, user_id=user_id)
        self.emitted.append(envelope)
        return envelope

    async def flush(self) -> list[Document]:
        """Writes the emitted events as pending outbox entries; returns those entries."""
        if not self.emitted:
            return []
        now = datetime.now(UTC)
        request_id = request_id_var.get()
        entries = [
            {
                "_id": envelope.id,
                "envelope": envelope.model_dump(mode="json"),
                "state": OutboxState.PENDING.value,
                "attempts": 0,
                "request_id": request_id,
                "created_at": now,
                "available_at": now,
            }
            for envelope in self.emitted
        ]
        # insert_many adds nothing to the dicts here: every entry already has its _id.
        await self.db.outbox.insert_many(entries, ordered=True, session=self.session)
        return entries


async def create_outbox_indexes(db: Database) -> None:
    await db.outbox.create_index([("state", ASCENDING), ("available_at", ASCENDING)])
    await db.outbox.create_index("claim", sparse=True)
    await db.outbox.create_index("sent_at", expireAfterSeconds=SENT_RETENTION_SECONDS)


class Outbox:
    """The outbox of one process, and its relay.

    The relay publishes what this process just committed straight from memory (two writes per
    batch: claim, mark sent) the moment the commit wakes it, and otherwise sleeps. A slow safety
    sweep, at start and every ``sweep_interval`` seconds (sooner when a failed publish is due for
    its retry), finds entries this process could not publish and those a crashed process left.
    """

    def __init__(
        self,
        mongo: Mongo,
        bus: EventBus,
        *,
        producer: str,
        batch_size: int = 100,
        sweep_interval: float = 30.0,
    ) -> None:
        self._mongo = mongo
        self._bus = bus
        self._producer = producer
        self._batch_size = batch_size
        self._sweep_interval = sweep_interval
        self._wake = asyncio.Event()
        self._fresh: list[Document] = []  # committed here, not yet claimed
        self._next_sweep = 0.0

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        async with self._mongo.transaction() as session:
            uow = UnitOfWork(session=session, db=self._mongo.db, producer=self._producer)
            yield uow
            entries = await uow.flush()
        # Only after the commit: woken earlier, the relay could not see the entries yet.
        if entries:
            self._fresh.extend(entries)
            self._wake.set()
        for callback in uow.committed:
            callback()

    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]], *, attempts: int = 8) -> T:
        """``work`` in a unit of work, retried when Mongo says the transaction may be retried
        (a write conflict with a concurrent transaction)."""
        for attempt in range(attempts):
            try:
                async with self.unit_of_work() as uow:
                    return await work(uow)
            except PyMongoError as exc:
                if attempt + 1 < attempts and exc.has_error_label("TransientTransactionError"):
                    await asyncio.sleep(random.uniform(0.001, 0.005) * (attempt + 1))  # noqa: S311
                    continue
                raise
        raise AssertionError("unreachable")

    async def run_relay(self) -> None:
        """Publishes until cancelled: fresh entries when a commit wakes it, a sweep now and then."""
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            try:
                if self._fresh:
                    batch, self._fresh = (
                        self._fresh[: self._batch_size],
                        self._fresh[self._batch_size :],
                    )
                    await self._relay_fresh(batch)
                    continue
                if loop.time() >= self._next_sweep:
                    self._next_sweep = loop.time() + self._sweep_interval
                    if await self.relay_batch() >= self._batch_size:
                        self._next_sweep = 0.0  # more left: sweep again at once
                        continue
                failures = 0
            except Exception:
                failures += 1
                log.exception("outbox relay failed; retrying")
                self._next_sweep = loop.time() + min(30.0, 0.5 * 2**failures)
            self._wake.clear()
            if self._fresh:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), timeout=max(0.0, self._next_sweep - loop.time())
                )

    async def _relay_fresh(self, entries: list[Document]) -> int:
        """Claims entries by id (they are ours, just committed), publishes them from memory and
        marks them sent. An entry a sweep elsewhere claimed first is left to that relay."""
        outbox = self._mongo.db.outbox
        token = uuid.uuid4().hex
        claimed = await outbox.update_many(
            {"_id": {"$in": [entry["_id"] for entry in entries]}, "state": OutboxState.PENDING},
            self._claim(token, datetime.now(UTC)),
        )
        if claimed.modified_count < len(entries):
            mine = {doc["_id"] async for doc in outbox.find({"claim": token}, {"_id": 1})}
            entries = [entry for entry in entries if entry["_id"] in mine]
        return await self._publish_claimed(token, [{**e, "attempts": 1} for e in entries])

    async def relay_batch(self) -> int:
        """The sweep: claims up to one batch of whatever is due, publishes it (confirms awaited
        together), marks it sent. Returns how many were published. The claim is an update
        conditioned on the entry still being claimable, tagged with a token, so two relays
        never take the same entry."""
        outbox = self._mongo.db.outbox
        now = datetime.now(UTC)
        claimable = {
            "state": {"$in": [OutboxState.PENDING.value, OutboxState.IN_FLIGHT.value]},
            "available_at": {"$lte": now},
        }
        candidates = [
            doc["_id"]
            async for doc in outbox.find(claimable, {"_id": 1})
            .sort([("state", ASCENDING), ("available_at", ASCENDING)])
            .limit(self._batch_size)
        ]
        if not candidates:
            return 0
        token = uuid.uuid4().hex
        await outbox.update_many({"_id": {"$in": candidates}, **claimable}, self._claim(token, now))
        entries = [doc async for doc in outbox.find({"claim": token}).sort("created_at", ASCENDING)]
        return await self._publish_claimed(token, entries)

    @staticmethod
    def _claim(token: str, now: datetime) -> Document:
        return {
            "$set": {
                "state": OutboxState.IN_FLIGHT.value,
                "claim": token,
                "available_at": now + CLAIM_LEASE,
            },
            "$inc": {"attempts": 1},
        }

    async def _publish_claimed(self, token: str, entries: list[Document]) -> int:
        results = await asyncio.gather(*(self._publish(entry) for entry in entries))
        sent = [entry["_id"] for entry, ok in zip(entries, results, strict=True) if ok]
        if sent:
            await self._mongo.db.outbox.update_many(
                {"_id": {"$in": sent}, "claim": token},
                {
                    "$set": {"state": OutboxState.SENT.value, "sent_at": datetime.now(UTC)},
                    "$unset": {"last_error": "", "claim": ""},
                },
            )
        return len(sent)

    async def _publish(self, entry: Document) -> bool:
        envelope = EventEnvelope.model_validate(entry["envelope"])
        request_id_var.set(entry.get("request_id"))
        try:
            await self._bus.publish(envelope, correlation_id=entry.get("request_id"))
        except Exception as exc:
            retry_in = min(300.0, 2.0 ** min(entry["attempts"], 8))
            log.error(
                "could not publish %s %s (attempt %d), retrying in %.0fs: %r",
                envelope.type,
                envelope.id,
                entry["attempts"],
                retry_in,
                exc,
            )
            retry_at = datetime.now(UTC) + timedelta(seconds=retry_in)
            loop = asyncio.get_running_loop()
            self._next_sweep = min(self._next_sweep, loop.time() + retry_in)
            await self._mongo.db.outbox.update_one(
                {"_id": entry["_id"]},
                {
                    "$set": {
                        "state": OutboxState.PENDING.value,
                        "last_error": repr(exc),
                        "available_at": retry_at,
                    },
                    "$unset": {"claim": ""},
                },
            )
            return False
        return True
