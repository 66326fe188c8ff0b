"""The outbox relay: publishes the events that units of work (shared.uow) wrote to ``outbox``.

A change and its events commit together in one transaction (shared.uow), so there is never a
change without its event nor an event without its change. The relay then publishes each entry
with publisher confirms and marks it sent. Entry states:

    pending ──claim──> in_flight ──confirmed──> sent
        ^                  │
        └──── publish failed / lease expired (process died mid-publish) ────┘

A claimed entry carries a lease (``available_at``); if its process dies before marking it sent,
the lease runs out and another relay (or the same one after restart) publishes it again. Delivery
is therefore at least once, which is why consumers are idempotent. A process that runs a relay
writes its entries already claimed by itself (``in_flight``, its lease running, see
shared.uow), so publishing what it just committed costs no claim, and the marks of a run of
commits are written together (MARK_SENT_DELAY): about one write per second of steady traffic
rather than one per commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from shared.bus import EventBus
from shared.events import EventEnvelope
from shared.leased import LeasedQueue, LeaseState, create_lease_indexes
from shared.log import request_id_var
from shared.mongo import Database, Document, Mongo

log = logging.getLogger(__name__)

T = TypeVar("T")
CLAIM_LEASE = timedelta(seconds=30)
LEASE_MARGIN = timedelta(seconds=10)  # a fresh entry's lease is renewed when this close to ending
# Published fresh entries are marked sent together, at most this long after publishing (or at
# once when a batch has gathered): one write for a run of commits rather than one each. Their
# lease (CLAIM_LEASE) keeps sweeps off them meanwhile; a process that dies in between has its
# entries published again once the lease runs out, which at-least-once delivery allows.
MARK_SENT_DELAY = 1.0
# While the broker is away the relay publishes nothing and looks again this often: a publish
# would only fail and put its entry's next try further off (the backoff is for a broker that
# refuses an entry), so entries written during a 20 s outage waited up to 30 s more after it.
BROKER_AWAY_POLL_SECONDS = 0.5
# Fresh entries held in memory while the broker is away, at most (one may be an import's batch
# of 1,000 expenses); the others are swept up after their lease, 30 s.
MAX_FRESH_AWAY = 100
SENT_RETENTION_SECONDS = 7 * 24 * 3600


OutboxState = LeaseState  # an entry is a leased item: pending, in_flight, sent


async def create_outbox_indexes(db: Database) -> None:
    await create_lease_indexes(db.outbox)
    await db.outbox.create_index("sent_at", expireAfterSeconds=SENT_RETENTION_SECONDS)


class OutboxRelay:
    """Publishes the outbox of one process's database.

    The relay publishes what this process just committed straight from memory (written already
    claimed by this process) the moment the commit wakes it, marks them sent together a moment
    later, and otherwise sleeps. A slow safety
    sweep, at start and every ``sweep_interval`` seconds (sooner when a failed publish is due for
    its retry), finds entries this process could not publish and those a crashed process left.
    """

    def __init__(
        self, mongo: Mongo, bus: EventBus, *, batch_size: int = 100, sweep_interval: float = 30.0
    ) -> None:
        self._mongo = mongo
        self._bus = bus
        self._queue = LeasedQueue(mongo.db.outbox, lease=CLAIM_LEASE)
        self._batch_size = batch_size
        self._sweep_interval = sweep_interval
        self._wake = asyncio.Event()
        self._fresh: list[Document] = []  # committed here, not yet claimed
        self._published: dict[str, list[str]] = {}  # claim -> ids published, not marked sent
        self._mark_due: float | None = None
        self._next_sweep = 0.0

    def committed(self, entries: list[Document]) -> None:
        """Entries this process has just committed (shared.uow calls this after a commit).
        While the broker is away (nothing is sent) at most MAX_FRESH_AWAY are held in memory:
        the rest are left to a sweep once their lease runs out."""
        if self._bus.is_connected():
            self._fresh.extend(entries)
        else:
            self._fresh.extend(entries[: max(0, MAX_FRESH_AWAY - len(self._fresh))])
        self._wake.set()

    async def run(self) -> None:
        """Publishes until cancelled: fresh entries when a commit wakes it, a sweep now and then."""
        try:
            await self._run()
        finally:
            # Stopping (cancelled, and awaited by the service's shutdown): what was published
            # is marked sent now rather than sent again after its lease.
            with contextlib.suppress(Exception):
                await self._mark_published()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            connected = self._bus.is_connected()
            try:
                if self._fresh and connected:
                    batch, self._fresh = (
                        self._fresh[: self._batch_size],
                        self._fresh[self._batch_size :],
                    )
                    await self._relay_fresh(batch)
                    continue
                if self._mark_due is not None and loop.time() >= self._mark_due:
                    await self._mark_published()
                if connected and loop.time() >= self._next_sweep:
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
            if self._fresh and connected:
                continue
            if connected:
                wake_at = min(self._next_sweep, self._mark_due or self._next_sweep)
            else:  # no sweep until the broker is back, however overdue (it would spin)
                wake_at = min(self._mark_due or math.inf, loop.time() + BROKER_AWAY_POLL_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, wake_at - loop.time()))

    async def _relay_fresh(self, entries: list[Document]) -> int:
        """Publishes entries this process just committed, from memory, and marks them sent.
        They were written claimed (each commit's own token); one left unclaimed (a unit of work
        without a relay) is claimed by id first, and one a sweep elsewhere took over is left to
        that relay."""
        published = 0
        by_claim: dict[str | None, list[Document]] = {}
        for entry in entries:
            by_claim.setdefault(entry.get("claim"), []).append(entry)
        now = datetime.now(UTC)
        for token, group in by_claim.items():
            if token is None:
                token, mine = await self._queue.claim_ids([entry["_id"] for entry in group])
                group = [{**entry, "attempts": 1} for entry in group if entry["_id"] in mine]
            elif min(entry["available_at"] for entry in group) - now < LEASE_MARGIN:
                # A backlog let the lease run low: renew it, and publish only what is still
                # ours (a sweep elsewhere may have taken some over).
                mine = await self._queue.renew([entry["_id"] for entry in group], token)
                group = [entry for entry in group if entry["_id"] in mine]
            results = await asyncio.gather(*(self._publish(token, entry) for entry in group))
            sent = [entry["_id"] for entry, ok in zip(group, results, strict=True) if ok]
            self._published.setdefault(token, []).extend(sent)
            published += len(sent)
        if sum(map(len, self._published.values())) >= self._batch_size:
            await self._mark_published()
        elif self._published and self._mark_due is None:
            self._mark_due = asyncio.get_running_loop().time() + MARK_SENT_DELAY
        return published

    async def _mark_published(self) -> None:
        """Marks what was published from memory sent: one write per claim (usually one)."""
        published, self._published, self._mark_due = self._published, {}, None
        for token, ids in published.items():
            await self._queue.done(token, ids)

    async def relay_batch(self) -> int:
        """The sweep: claims up to one batch of whatever is due, publishes it (confirms awaited
        together), marks it sent. Returns how many were published."""
        token, entries = await self._queue.claim_due(self._batch_size)
        return await self._publish_claimed(token, entries) if entries else 0

    async def _publish_claimed(self, token: str, entries: list[Document]) -> int:
        results = await asyncio.gather(*(self._publish(token, entry) for entry in entries))
        sent = [entry["_id"] for entry, ok in zip(entries, results, strict=True) if ok]
        await self._queue.done(token, sent)
        return len(sent)

    async def _publish(self, token: str, entry: Document) -> bool:
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
            loop = asyncio.get_running_loop()
            self._next_sweep = min(self._next_sweep, loop.time() + retry_in)
            await self._queue.retry(entry["_id"], token, timedelta(seconds=retry_in), repr(exc))
            return False
        return True
