"""Units of work and the outbox relay, against a real Mongo-wire server and RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.events import EventEnvelope, UserDeleted
from shared.outbox import MAX_FRESH_AWAY, OutboxRelay, OutboxState
from shared.uow import Transactions, UnitOfWork
from tests.shared.conftest import Parts
from tests.support import event_tap, eventually


class Boom(Exception):
    pass


async def stop(relay: asyncio.Task[None]) -> None:
    """As a service's shutdown does: cancelled, then awaited (it marks what it published)."""
    relay.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await relay


async def test_change_and_event_commit_together_and_relay_publishes(parts: Parts) -> None:
    async with event_tap(parts.amqp_url, parts.names.exchange, "user.#") as tap:

        async def work(uow: UnitOfWork) -> EventEnvelope:
            await uow.db.things.insert_one({"_id": "t1"}, session=uow.session)
            return uow.emit(UserDeleted(user_id="u1"), user_id="u1")

        envelope = await parts.transactions.run(work)
        assert await parts.mongo.db.things.count_documents({}) == 1
        entry = await parts.mongo.db.outbox.find_one({"_id": envelope.id})
        assert entry is not None
        # Written already claimed by this process, whose relay publishes it from memory.
        assert entry["state"] == OutboxState.IN_FLIGHT
        assert entry["claim"]
        assert await parts.relay.relay_batch() == 0  # a sweep leaves it alone: its lease runs

        relay = asyncio.create_task(parts.relay.run())
        try:
            assert await eventually(lambda: asyncio.sleep(0, tap.messages))
        finally:
            await stop(relay)
        [body] = tap.bodies()
        assert body["id"] == envelope.id
        assert body["type"] == "user.deleted"
        assert body["data"] == {"user_id": "u1"}
        assert tap.messages[0].message_id == envelope.id

    entry = await parts.mongo.db.outbox.find_one({"_id": envelope.id})
    assert entry is not None
    assert entry["state"] == OutboxState.SENT
    assert entry["sent_at"] is not None


async def test_failed_change_leaves_neither_change_nor_event(parts: Parts) -> None:
    committed: list[str] = []

    async def work(uow: UnitOfWork) -> None:
        await uow.db.things.insert_one({"_id": "t1"}, session=uow.session)
        uow.emit(UserDeleted(user_id="u1"), user_id="u1")
        uow.after_commit(lambda: committed.append("t1"))
        raise Boom

    with pytest.raises(Boom):
        await parts.transactions.run(work)
    assert await parts.mongo.db.things.count_documents({}) == 0
    assert await parts.mongo.db.outbox.count_documents({}) == 0
    assert committed == []  # after_commit runs only after a commit


async def test_unroutable_event_fails_loudly_and_stays_pending(parts: Parts) -> None:
    # No queue is bound to the exchange, so the broker returns the message.
    async def work(uow: UnitOfWork) -> EventEnvelope:
        return uow.emit(UserDeleted(user_id="u1"), user_id="u1")

    envelope = await parts.transactions.run(work)
    relay = asyncio.create_task(parts.relay.run())

    async def refused() -> dict[str, Any] | None:
        entry = await parts.mongo.db.outbox.find_one({"_id": envelope.id})
        return entry if entry and entry["state"] == OutboxState.PENDING else None

    try:
        entry = await eventually(refused, what="the refused publish back to pending")
    finally:
        await stop(relay)
    assert entry["attempts"] == 1
    assert "NO_ROUTE" in entry["last_error"]


async def test_relay_wakes_on_commit(parts: Parts) -> None:
    async def emit(user_id: str) -> None:
        async def work(uow: UnitOfWork) -> None:
            uow.emit(UserDeleted(user_id=user_id), user_id=user_id)

        await parts.transactions.run(work)

    async with event_tap(parts.amqp_url, parts.names.exchange, "user.deleted") as tap:
        relay = asyncio.create_task(parts.relay.run())
        try:
            await emit("u1")
            assert await eventually(lambda: asyncio.sleep(0, len(tap.messages) == 1))
            # The relay has run (its start-up sweep included) and sleeps until the next sweep,
            # 30 s away: an event delivered well within that was woken for, not swept up.
            await emit("u2")
            delivered = await eventually(
                lambda: asyncio.sleep(0, len(tap.messages) == 2), timeout=0.5
            )
            assert delivered
        finally:
            await stop(relay)
    assert [body["data"]["user_id"] for body in tap.bodies()] == ["u1", "u2"]
    sent = await parts.mongo.db.outbox.count_documents({"state": OutboxState.SENT})
    assert sent == 2


async def test_an_entry_left_by_a_crashed_process_is_swept_up(parts: Parts) -> None:
    """Committed but never handed to a relay in memory (its process died): the start-up sweep
    sends it."""
    async with event_tap(parts.amqp_url, parts.names.exchange, "user.deleted") as tap:
        async with parts.mongo.transaction() as session:
            uow = UnitOfWork(session=session, db=parts.mongo.db, producer="crashed")
            uow.emit(UserDeleted(user_id="u3"), user_id="u3")
            await uow.flush()
        relay = asyncio.create_task(parts.relay.run())
        try:
            assert await eventually(lambda: asyncio.sleep(0, len(tap.messages) == 1))
        finally:
            await stop(relay)
    assert tap.bodies()[0]["data"] == {"user_id": "u3"}


async def test_a_claimed_entry_of_a_crashed_process_is_swept_up_after_its_lease(
    parts: Parts,
) -> None:
    """Written claimed by a process that died before publishing: once its lease has run out
    (moved into the past here, as 30 s would), a sweep publishes it."""
    async with event_tap(parts.amqp_url, parts.names.exchange, "user.deleted") as tap:
        async with parts.mongo.transaction() as session:
            uow = UnitOfWork(session=session, db=parts.mongo.db, producer="crashed")
            envelope = uow.emit(UserDeleted(user_id="u4"), user_id="u4")
            await uow.flush(claim="a-process-that-died")
        assert await parts.relay.relay_batch() == 0  # its lease still runs
        await parts.mongo.db.outbox.update_one(
            {"_id": envelope.id}, {"$set": {"available_at": datetime.now(UTC) - timedelta(1)}}
        )
        assert await parts.relay.relay_batch() == 1
        assert await eventually(lambda: asyncio.sleep(0, len(tap.messages) == 1))
    entry = await parts.mongo.db.outbox.find_one({"_id": envelope.id})
    assert entry is not None
    assert entry["state"] == OutboxState.SENT


async def test_a_run_of_commits_is_marked_sent_in_a_few_writes(parts: Parts) -> None:
    """Twenty commits one after another, each published the moment it commits, are marked sent
    together (within MARK_SENT_DELAY) rather than with one write each: the server's own count
    of updates to this outbox says how many writes it took."""

    async def outbox_writes() -> int:
        totals = (await parts.mongo.client.admin.command("top"))["totals"]
        counts = totals.get(f"{parts.mongo.db.name}.outbox", {})
        return sum(counts.get(kind, {}).get("count", 0) for kind in ("update",))

    async def emit(n: int) -> None:
        async def work(uow: UnitOfWork) -> None:
            uow.emit(UserDeleted(user_id=f"u{n}"), user_id=f"u{n}")

        await parts.transactions.run(work)

    async def all_sent() -> bool:
        return await parts.mongo.db.outbox.count_documents({"state": OutboxState.SENT}) == 20

    async with event_tap(parts.amqp_url, parts.names.exchange, "user.deleted") as tap:
        relay = asyncio.create_task(parts.relay.run())
        try:
            await eventually(lambda: asyncio.sleep(0, True))  # the start-up sweep has run
            before = await outbox_writes()
            for n in range(20):
                await emit(n)
                # Published before the next commit: each one is a batch of its own.
                assert await eventually(lambda n=n: asyncio.sleep(0, len(tap.messages) == n + 1))
            assert await eventually(all_sent, what="every entry marked sent")
            writes = await outbox_writes() - before
        finally:
            await stop(relay)
    assert 1 <= writes <= 4, writes


class AwayBroker:
    """A bus whose broker is away: it counts how often the relay asks, and refuses to send."""

    def __init__(self) -> None:
        self.asked = 0

    def is_connected(self) -> bool:
        self.asked += 1
        return False

    async def publish(self, envelope: EventEnvelope, *, correlation_id: str | None) -> None:
        raise AssertionError("nothing is published while the broker is away")

    async def consume(self, queue: str, event_types: Any, callback: Any) -> None:
        raise NotImplementedError

    async def broadcast(self, queue: str, event_types: Any, callback: Any) -> None:
        raise NotImplementedError

    async def bind(self, queue: str, event_types: Any) -> None:
        raise NotImplementedError


async def test_while_the_broker_is_away_the_relay_waits_and_holds_little(parts: Parts) -> None:
    """Its sweep overdue (it runs at start), a relay that skipped sweeps while the broker was
    away woke at once, forever: a core spent in each service for the outage's length."""
    away = AwayBroker()
    relay = OutboxRelay(parts.mongo, away)
    transactions = Transactions(parts.mongo, producer="tests", on_commit=relay.committed)

    async def emit(uow: UnitOfWork) -> None:
        for n in range(MAX_FRESH_AWAY + 50):
            uow.emit(UserDeleted(user_id=f"u{n}"), user_id=f"u{n}")

    task = asyncio.create_task(relay.run())
    try:
        await transactions.run(emit)
        asked = away.asked
        await asyncio.sleep(1.0)  # the window the relay's pace is counted in
        turns = away.asked - asked
    finally:
        await stop(task)
    assert 1 <= turns <= 4  # one look every 0.5 s
    assert len(relay._fresh) == MAX_FRESH_AWAY  # the rest wait in the outbox for a sweep
    pending = await parts.mongo.db.outbox.count_documents({"state": {"$ne": OutboxState.SENT}})
    assert pending == MAX_FRESH_AWAY + 50
