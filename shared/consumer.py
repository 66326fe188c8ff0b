"""Idempotent consumption: each event's effects and its "processed" mark commit together.

A handler runs inside a unit of work whose first queued write records the event id in
``processed_events`` (sent with the handler's own queued writes when it is done). A redelivered
event collides with its id there: its work rolls back and it is acknowledged as a duplicate; two
concurrent deliveries of one event collide on that write and one of them rolls back. A repeat
whose handler fails before its mark is written is acknowledged all the same. Handlers may emit
events of their own through the same unit of work (outbox).

Failures: a message that is not a valid envelope is rejected straight to the dead-letter queue; a
handler error is requeued, and the queue's delivery limit dead-letters it if it keeps failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from aio_pika.abc import AbstractIncomingMessage
from prometheus_client import Counter
from pydantic import ValidationError
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure

from shared.events import EventEnvelope, EventType, Payload
from shared.log import new_request_id, request_id_var
from shared.mongo import Database, Document
from shared.uow import Transactions, UnitOfWork

log = logging.getLogger(__name__)

# A message this large (an import's batch of 1,000 expenses is about 300 KB) is handled only
# when no other such message is being handled in this process: see ``on_message``.
LARGE_MESSAGE_BYTES = 64 * 1024


@dataclass(frozen=True)
class UnreachableWaits:
    """How a delivery waits for a database out of reach: no fault of the message, so it is
    tried again, unacknowledged, ``first`` to ``longest`` seconds apart, until ``give_up``
    seconds have passed since it arrived, then once more as an ordinary try (requeued if it
    fails). Requeued at once, five deliveries of about five seconds each (the driver's wait
    for a server) would dead-letter every event in flight during a half-minute outage. The
    limit keeps a delivery well inside RabbitMQ's consumer timeout (30 minutes by default),
    past which the broker would close the channel and requeue every delivery on it."""

    first: float = 0.5
    longest: float = 30.0
    give_up: float = 600.0


P = TypeVar("P", bound=Payload)
P_contra = TypeVar("P_contra", bound=Payload, contravariant=True)


@dataclass(frozen=True)
class EventContext:
    """What a handler knows of the event besides its payload (the envelope's other fields)."""

    id: str
    type: EventType
    occurred_at: datetime
    producer: str
    user_id: str | None

    @classmethod
    def of(cls, envelope: EventEnvelope) -> EventContext:
        return cls(
            envelope.id, envelope.type, envelope.occurred_at, envelope.producer, envelope.user_id
        )


class Handler(Protocol[P_contra]):
    """Handles one kind of event, given its payload already validated (the Python form of
    eShop's ``IIntegrationEventHandler<T>``), inside the consumer's unit of work."""

    def __call__(
        self, payload: P_contra, event: EventContext, uow: UnitOfWork, /
    ) -> Awaitable[None]: ...


@dataclass(frozen=True)
class Subscription:
    """A payload type and its handler; ``on`` pairs them so that the types must agree."""

    payload_type: type[Payload]
    handler: Handler[Any]
    replay_safe: bool = False


def on(payload_type: type[P], handler: Handler[P], *, replay_safe: bool = False) -> Subscription:
    """``replay_safe``: the handler itself leaves the same state however often it runs for one
    event (a projection that keeps each expense's newest version ignores what it has seen), so
    the consumer need not record the event as processed: one write less per event. Only when
    every subscription to a type is replay-safe is the record skipped."""
    return Subscription(payload_type, handler, replay_safe)


Subscriptions = Sequence[Subscription]
EVENTS_HANDLED = Counter(
    "events_handled_total",
    "Events taken from this service's queue, by type and outcome",
    ["type", "outcome"],
)
PROCESSED_RETENTION_SECONDS = 30 * 24 * 3600


async def create_consumer_indexes(db: Database) -> None:
    await db.processed_events.create_index(
        "processed_at", expireAfterSeconds=PROCESSED_RETENTION_SECONDS
    )


def merge_handlers(subscriptions: Subscriptions) -> dict[type[Payload], Handler[Any]]:
    """One handler per payload type: where several subscriptions handle a type (a service's
    own and the shared ones, e.g. profiles and a welcome note on user.registered), each runs in
    turn, in the same unit of work, so their effects commit, or are retried, together."""
    merged: dict[type[Payload], list[Handler[Any]]] = {}
    for subscription in subscriptions:
        merged.setdefault(subscription.payload_type, []).append(subscription.handler)
    return {payload_type: _in_turn(chain) for payload_type, chain in merged.items()}


def _in_turn(chain: list[Handler[Any]]) -> Handler[Any]:
    if len(chain) == 1:
        return chain[0]

    async def run(payload: Payload, event: EventContext, uow: UnitOfWork) -> None:
        for handler in chain:
            await handler(payload, event, uow)

    return run


def replay_safe_types(subscriptions: Subscriptions) -> frozenset[type[Payload]]:
    kinds = {s.payload_type for s in subscriptions}
    return frozenset(
        kind
        for kind in kinds
        if all(s.replay_safe for s in subscriptions if s.payload_type is kind)
    )


class IdempotentConsumer:
    def __init__(
        self,
        transactions: Transactions,
        subscriptions: Subscriptions,
        unreachable: UnreachableWaits | None = None,
    ) -> None:
        self._transactions = transactions
        self._unreachable = unreachable or UnreachableWaits()
        self.handlers = merge_handlers(subscriptions)
        self._replay_safe = replay_safe_types(subscriptions)
        self._user_turns: dict[str | None, tuple[asyncio.Lock, int]] = {}
        self._large_messages = asyncio.Semaphore(1)

    @contextlib.asynccontextmanager
    async def _turn_of(self, user_id: str | None) -> AsyncIterator[None]:
        """One event per user at a time in this process; other users' events run alongside.
        Handlers for one user touch the same documents, so running them together would only
        make their transactions conflict and retry (processes still serialise through Mongo)."""
        lock, waiting = self._user_turns.get(user_id, (asyncio.Lock(), 0))
        self._user_turns[user_id] = (lock, waiting + 1)
        try:
            async with lock:
                yield
        finally:
            lock, waiting = self._user_turns[user_id]
            if waiting == 1:
                del self._user_turns[user_id]
            else:
                self._user_turns[user_id] = (lock, waiting - 1)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        """Large messages one at a time: a prefetch of 32 import batches parsed together held
        32,000 expenses in memory while they waited for their user's turn (budget_service at
        178 MiB after a 100,000-row import); one user's batches run in turn anyway.

        A database out of reach is no fault of the message: the delivery waits, unacknowledged,
        holding neither the slot for large messages nor its parsed payload (it is parsed again
        for each try), and tries again (see UnreachableWaits) before it counts as failed."""
        token = request_id_var.set(message.correlation_id or new_request_id())
        try:
            large = len(message.body) > LARGE_MESSAGE_BYTES
            waits = self._unreachable
            loop = asyncio.get_running_loop()
            give_up_at = loop.time() + waits.give_up
            wait = waits.first
            while True:
                patient = loop.time() < give_up_at
                try:
                    async with self._large_messages if large else contextlib.nullcontext():
                        await self._dispatch(message, wait_for_database=patient)
                    return
                except ConnectionFailure as exc:
                    pause = min(wait, max(0.0, give_up_at - loop.time()))
                    log.warning(
                        "database unreachable handling message %s; trying again in %.1f s: %r",
                        message.message_id,
                        pause,
                        exc,
                    )
                    await asyncio.sleep(pause)
                    wait = min(wait * 2, waits.longest)
        finally:
            request_id_var.reset(token)

    async def _dispatch(self, message: AbstractIncomingMessage, *, wait_for_database: bool) -> None:
        """Handles, then acknowledges or requeues, the message; a ConnectionFailure with
        ``wait_for_database`` is raised instead, the message left as it is."""
        try:
            envelope = EventEnvelope.model_validate_json(message.body)
            payload = envelope.payload()  # validated once, here; handlers get it typed
        except (ValidationError, ValueError) as exc:
            log.error("dead-lettering malformed message %s: %s", message.message_id, exc)
            EVENTS_HANDLED.labels(message.type or "unknown", "malformed").inc()
            await message.reject(requeue=False)
            return
        handler = self.handlers.get(type(payload))
        if handler is None:
            log.warning("no handler for %s; acknowledging", envelope.type)
            await message.ack()
            return
        try:
            async with self._turn_of(envelope.user_id):
                handled = await self._handle_once(envelope, payload, handler)
        except Exception as exc:
            if wait_for_database and isinstance(exc, ConnectionFailure):
                raise
            log.exception("handling %s %s failed; requeueing", envelope.type, envelope.id)
            EVENTS_HANDLED.labels(envelope.type.value, "failed").inc()
            await message.nack(requeue=True)
            return
        if not handled:
            log.info("duplicate %s %s ignored", envelope.type, envelope.id)
        EVENTS_HANDLED.labels(envelope.type.value, "handled" if handled else "duplicate").inc()
        await message.ack()

    @property
    def event_types(self) -> list[EventType]:
        return [payload_type.event_type for payload_type in self.handlers]

    async def handle(self, envelope: EventEnvelope) -> bool:
        """Handles one event as a delivery would (for tools and tests that have envelopes)."""
        payload = envelope.payload()
        return await self._handle_once(envelope, payload, self.handlers[type(payload)])

    async def _handle_once(
        self, envelope: EventEnvelope, payload: Payload, handler: Handler[Any]
    ) -> bool:
        """Runs ``handler`` once per event id; returns False for an event already processed.
        A write conflict with a concurrent transaction is retried here, not redelivered. A
        replay-safe type is not recorded: its handler ignores a repeat by itself."""
        if type(payload) in self._replay_safe:

            async def again_is_harmless(uow: UnitOfWork) -> None:
                await handler(payload, EventContext.of(envelope), uow)

            try:
                await self._transactions.run(again_is_harmless, attempts=30)
            except StaleEventError:
                return False
            return True

        async def once(uow: UnitOfWork) -> None:
            # Queued first, written with the handler's queued writes when it is done: no round
            # trip of its own. A repeat finds the id there and the whole work rolls back.
            processed = {
                "_id": envelope.id,
                "type": envelope.type.value,
                "processed_at": datetime.now(UTC),
            }
            uow.queue_insert(
                uow.db.processed_events, processed, on_duplicate=_AlreadyProcessedError
            )
            await handler(payload, EventContext.of(envelope), uow)

        try:
            await self._transactions.run(once, attempts=30)
        except (_AlreadyProcessedError, StaleEventError):
            return False
        except ConnectionFailure:
            raise  # asking whether it was processed would only wait for the database again
        except Exception:
            # The mark is written after the handler, so a repeat's handler runs first and may
            # fail where the first delivery did not (its user deleted since, say): a repeat is
            # still a repeat, acknowledged, not requeued until it is dead-lettered.
            if await self._processed(envelope.id):
                return False
            raise
        return True

    async def _processed(self, event_id: str) -> bool:
        found = await self._transactions.db.processed_events.find_one({"_id": event_id}, {"_id": 1})
        return found is not None


async def replace_if_newer(
    collection: AsyncCollection[Document], after: Document, uow: UnitOfWork
) -> Document | None:
    """Stores ``after`` (with ``_id`` and ``version``) as the newest version of its document
    and returns the one it replaced (None: it is new), in one round trip. When the stored one
    is as new or newer (a duplicate or a late event) it raises StaleEventError, which rolls the
    write back. A projection of another service's entities keeps them this way."""
    before: Document | None = await collection.find_one_and_replace(
        {"_id": after["_id"]},
        after,
        upsert=True,
        return_document=ReturnDocument.BEFORE,
        session=uow.session,
    )
    if before is not None and before["version"] >= after["version"]:
        raise StaleEventError
    return before


class StaleEventError(Exception):
    """Raised by a handler that finds the event older than what it holds only after writing
    (a projection replaced and its previous version returned in one round trip, rather than
    read first and written second): the unit of work is rolled back, so nothing it wrote
    stays, and the event is acknowledged as a duplicate."""


class _AlreadyProcessedError(Exception):
    """Leaves the unit of work (aborting it) when the event's id is already recorded."""
