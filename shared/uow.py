"""The one way into a transaction: a unit of work, run (and retried) by ``Transactions.run``.

Every write that must be atomic, in a route, a consumer or a background job, is a function of
a ``UnitOfWork``: its ``session`` for the writes, ``emit`` for the events that go with them
(written to the outbox in the same transaction), ``queue_insert``, ``queue_update``,
``queue_replace`` and ``queue_delete`` for writes whose answer it does not need (sent with the
outbox entries in one ``bulkWrite`` when the work ends), ``after_commit`` for what should happen
once it has committed (waking a worker). ``Transactions.run`` retries the whole function when Mongo
says the transaction may be retried (a write conflict with a concurrent transaction), so the
function must not have effects outside the transaction except through ``after_commit``.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    ClientBulkWriteException,
    ConnectionFailure,
    DuplicateKeyError,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteError,
)

from shared.errors import UnavailableError
from shared.events import EventEnvelope, Payload
from shared.log import request_id_var
from shared.mongo import Database, Document, Mongo
from shared.outbox import CLAIM_LEASE, OutboxState

T = TypeVar("T")


class BusyError(UnavailableError, PyMongoError):
    """A transaction that kept conflicting with others: 503 to a client; to a consumer, like
    any database error, a redelivery."""


MAX_BACKOFF_SECONDS = 0.1
Committed = Callable[[list[Document]], None]
QueuedWrite = InsertOne[Document] | UpdateOne | ReplaceOne[Document] | DeleteOne
DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class _Queued:
    write: QueuedWrite
    on_duplicate: type[Exception] | None = None


@dataclass
class UnitOfWork:
    """One transaction: ``session`` for the writes, ``emit`` for the events that go with them.

    Emitted events are written to the outbox when the unit of work ends, still inside its
    transaction, in one ``bulkWrite`` with the queued writes: one round trip for all of them
    (a database round trip is the largest cost of a write here: on the embedded server a
    transaction of three writes sent one by one took 2.8 ms, in one bulkWrite 1.8 ms, and
    half the client's CPU).
    """

    session: AsyncClientSession
    db: Database
    producer: str
    emitted: list[EventEnvelope] = field(default_factory=list)
    committed: list[Callable[[], None]] = field(default_factory=list)
    queued: list[_Queued] = field(default_factory=list)

    def queue_insert(
        self,
        collection: AsyncCollection[Document],
        document: Document,
        *,
        on_duplicate: type[Exception] | None = None,
    ) -> None:
        """Inserts ``document`` when the work ends (see ``queue_update``). A duplicate key
        raises ``on_duplicate`` there, when given, else DuplicateKeyError, as the insert would
        have; either way the transaction rolls back."""
        write = InsertOne(document, namespace=collection.full_name)
        self.queued.append(_Queued(write, on_duplicate))

    def queue_update(
        self,
        collection: AsyncCollection[Document],
        filter: Document,
        update: Document,
        *,
        upsert: bool = False,
    ) -> None:
        """Updates one document when the work ends, in the transaction, in order with the other
        queued writes and before the outbox entries. For a write whose answer the work does not
        need and that nothing in the work reads back (it would not see it yet); an error fails
        the unit of work as the write itself would have."""
        write = UpdateOne(filter, update, upsert=upsert, namespace=collection.full_name)
        self.queued.append(_Queued(write))

    def queue_replace(
        self,
        collection: AsyncCollection[Document],
        filter: Document,
        replacement: Document,
        *,
        upsert: bool = False,
    ) -> None:
        """Replaces one document when the work ends (see ``queue_update``)."""
        write = ReplaceOne(filter, replacement, upsert=upsert, namespace=collection.full_name)
        self.queued.append(_Queued(write))

    def queue_delete(self, collection: AsyncCollection[Document], filter: Document) -> None:
        """Deletes one matching document when the work ends (see ``queue_update``)."""
        write = DeleteOne(filter, namespace=collection.full_name)
        self.queued.append(_Queued(write))

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Runs ``callback`` once the transaction has committed (e.g. to wake a worker that
        should now see what it wrote); not at all if it aborts."""
        self.committed.append(callback)

    def emit(self, payload: Payload, *, user_id: str | None) -> EventEnvelope:
        envelope = EventEnvelope.of(payload, producer=self.producer, user_id=user_id)
        self.emitted.append(envelope)
        return envelope

    async def flush(self, claim: str | None = None) -> list[Document]:
        """Writes the queued writes, then the emitted events as outbox entries, in one round
        trip; returns the entries. With ``claim`` (this process runs a relay, which publishes
        them the moment this commits) they are written already claimed by it, their lease
        running, so the relay need not claim them: should the process die first, the lease
        runs out and any relay's sweep takes them. Without, they are pending, for a sweep."""
        entries = self._outbox_entries(claim)
        writes = [queued.write for queued in self.queued]
        writes += [InsertOne(entry, namespace=self.db.outbox.full_name) for entry in entries]
        if writes:
            try:
                await self.db.client.bulk_write(writes, session=self.session, ordered=True)
            except ClientBulkWriteException as exc:
                error = self._as_single_write_error(exc)
                raise error from (None if error is exc.error else exc)
        return entries

    def _as_single_write_error(self, exc: ClientBulkWriteException) -> Exception:
        """The error the write that failed would have raised alone: what callers and
        ``Transactions.run`` already know (a write conflict's TransientTransactionError label
        is on the command's error, not on the bulk write's)."""
        if isinstance(exc.error, Exception):
            return exc.error
        # Ordered, it stops at the first failed write: at most one, a document (the property
        # ``write_errors`` is annotated otherwise).
        write_errors: list[Document] = exc.details.get("writeErrors") or []
        if not write_errors:
            return exc
        failed = write_errors[0]
        index, code = failed.get("idx", -1), failed.get("code")
        if code == DUPLICATE_KEY:
            queued = self.queued[index] if 0 <= index < len(self.queued) else None
            if queued is not None and queued.on_duplicate is not None:
                return queued.on_duplicate()
            return DuplicateKeyError(failed.get("errmsg", "duplicate key"), code, failed)
        return WriteError(failed.get("errmsg", "write failed"), code, failed)

    def _outbox_entries(self, claim: str | None) -> list[Document]:
        if not self.emitted:
            return []
        now = datetime.now(UTC)
        request_id = request_id_var.get()
        state = {"state": OutboxState.PENDING.value, "attempts": 0, "available_at": now}
        if claim is not None:
            state = {
                "state": OutboxState.IN_FLIGHT.value,
                "attempts": 1,
                "available_at": now + CLAIM_LEASE,
                "claim": claim,
            }
        entries = [
            {
                "_id": envelope.id,
                "envelope": envelope.model_dump(mode="json"),
                **state,
                "request_id": request_id,
                "created_at": now,
            }
            for envelope in self.emitted
        ]
        return entries


class Transactions:
    """Runs units of work for one service (``producer`` names it in the events it emits)."""

    def __init__(self, mongo: Mongo, *, producer: str, on_commit: Committed | None = None) -> None:
        self._mongo = mongo
        self._producer = producer
        self._on_commit = on_commit
        # The claim this process's entries are written with: one per process, so the relay
        # marks a batch of several commits sent in one write.
        self._claim = uuid.uuid4().hex

    @property
    def db(self) -> Database:
        return self._mongo.db

    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]], *, attempts: int = 20) -> T:
        """``work`` in one transaction, retried up to ``attempts`` times on a transient error
        (about two seconds of backoff in all). Still conflicting after that (many writers of
        one document at once), it gives up with 503 and Retry-After, never a 500.

        The driver labels a lost connection transient too, but that is not a conflict: a
        connection dropped under us is tried once more (a pooled one the server had closed),
        and no server to select at all (the driver has already waited for one) is raised at
        once (503 to a client, shared.problems; a consumer's delivery waits for the database
        instead, shared.consumer.UnreachableWaits), not retried twenty times its wait."""
        connection_failures = 0
        for attempt in range(attempts):
            try:
                async with self._mongo.transaction() as session:
                    uow = UnitOfWork(session=session, db=self._mongo.db, producer=self._producer)
                    result = await work(uow)
                    claim = self._claim if self._on_commit is not None else None
                    entries = await uow.flush(claim)
            except PyMongoError as exc:
                if isinstance(exc, ConnectionFailure):
                    connection_failures += 1
                    if connection_failures > 1 or isinstance(exc, ServerSelectionTimeoutError):
                        raise
                if attempt + 1 < attempts and exc.has_error_label("TransientTransactionError"):
                    # Jittered exponential backoff: processes contending for one document (a
                    # user's totals, say) spread out instead of colliding again in step.
                    ceiling = min(MAX_BACKOFF_SECONDS, 0.002 * 2**attempt)
                    await asyncio.sleep(random.uniform(0.0005, ceiling))  # noqa: S311
                    continue
                if exc.has_error_label("TransientTransactionError"):
                    raise BusyError("too many changes to the same data at once; retry") from exc
                raise
            # Only after the commit: woken earlier, the relay could not see the entries yet.
            if entries and self._on_commit is not None:
                self._on_commit(entries)
            for callback in uow.committed:
                callback()
            return result
        raise AssertionError("unreachable")
