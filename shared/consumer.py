"""Idempotent consumption: each event's effects and its "processed" mark commit together.

A handler runs inside a unit of work whose first write records the event id in
``processed_events``. A redelivered event finds its id there and is acknowledged without running
the handler again; two concurrent deliveries of one event collide on that write and one of them
aborts. Handlers may emit events of their own through the same unit of work (outbox).

Failures: a message that is not a valid envelope is rejected straight to the dead-letter queue; a
handler error is requeued, and the queue's delivery limit dead-letters it if it keeps failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime

from aio_pika.abc import AbstractIncomingMessage
from prometheus_client import Counter
from pydantic import ValidationError
from pymongo.errors import DuplicateKeyError

from shared.events import EventEnvelope, EventType
from shared.log import new_request_id, request_id_var
from shared.mongo import Database
from shared.outbox import Outbox, UnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[[EventEnvelope, UnitOfWork], Awaitable[None]]
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


class IdempotentConsumer:
    def __init__(self, outbox: Outbox, handlers: Mapping[EventType, Handler]) -> None:
        self._outbox = outbox
        self.handlers = dict(handlers)
        self._user_turns: dict[str | None, tuple[asyncio.Lock, int]] = {}

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
        token = request_id_var.set(message.correlation_id or new_request_id())
        try:
            await self._dispatch(message)
        finally:
            request_id_var.reset(token)

    async def _dispatch(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = EventEnvelope.model_validate_json(message.body)
            envelope.payload()
        except (ValidationError, ValueError) as exc:
            log.error("dead-lettering malformed message %s: %s", message.message_id, exc)
            EVENTS_HANDLED.labels(message.type or "unknown", "malformed").inc()
            await message.reject(requeue=False)
            return
        handler = self.handlers.get(envelope.type)
        if handler is None:
            log.warning("no handler for %s; acknowledging", envelope.type)
            await message.ack()
            return
        try:
            async with self._turn_of(envelope.user_id):
                handled = await self.handle(envelope, handler)
        except Exception:
            log.exception("handling %s %s failed; requeueing", envelope.type, envelope.id)
            EVENTS_HANDLED.labels(envelope.type.value, "failed").inc()
            await message.nack(requeue=True)
            return
        if not handled:
            log.info("duplicate %s %s ignored", envelope.type, envelope.id)
        EVENTS_HANDLED.labels(envelope.type.value, "handled" if handled else "duplicate").inc()
        await message.ack()

    async def handle(self, envelope: EventEnvelope, handler: Handler) -> bool:
        """Runs ``handler`` once per event id; returns False for an event already processed.
        A write conflict with a concurrent transaction is retried here, not redelivered."""

        async def once(uow: UnitOfWork) -> None:
            try:
                await uow.db.processed_events.insert_one(
                    {
                        "_id": envelope.id,
                        "type": envelope.type.value,
                        "processed_at": datetime.now(UTC),
                    },
                    session=uow.session,
                )
            except DuplicateKeyError:
                raise _AlreadyProcessedError from None
            await handler(envelope, uow)

        try:
            await self._outbox.run(once, attempts=30)
        except _AlreadyProcessedError:
            return False
        return True


class _AlreadyProcessedError(Exception):
    """Leaves the unit of work (aborting it) when the event's id is already recorded."""
