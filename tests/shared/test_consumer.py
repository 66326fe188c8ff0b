"""The idempotent consumer and dead-lettering, against a real Mongo-wire server and RabbitMQ."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from pymongo.errors import AutoReconnect

from shared.consumer import (
    EventContext,
    Handler,
    IdempotentConsumer,
    UnreachableWaits,
    on,
    replace_if_newer,
)
from shared.events import EventEnvelope, UserDeleted, UserTokensRevoked
from shared.uow import UnitOfWork
from tests.shared.conftest import Parts
from tests.support import eventually


async def count_in_queue(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        count: int = declared.declaration_result.message_count or 0
        return count


async def test_same_event_twice_is_handled_once(parts: Parts) -> None:
    handled: list[str] = []
    markers: list[str] = []

    async def on_deleted(deleted: UserDeleted, event: EventContext, uow: UnitOfWork) -> None:
        handled.append(event.id)
        await uow.db.effects.update_one(
            {"_id": "counter"}, {"$inc": {"n": 1}}, upsert=True, session=uow.session
        )

    async def on_marker(marker: UserTokensRevoked, event: EventContext, uow: UnitOfWork) -> None:
        markers.append(event.id)

    consumer = IdempotentConsumer(
        parts.transactions, [on(UserDeleted, on_deleted), on(UserTokensRevoked, on_marker)]
    )
    queue = f"{parts.names.queue_prefix}consumer.events"
    await parts.bus.consume(queue, consumer.event_types, consumer.on_message)

    envelope = EventEnvelope.of(UserDeleted(user_id="u1"), producer="tests", user_id="u1")
    for _ in range(3):
        await parts.bus.publish(envelope, correlation_id="req-1")
    other = EventEnvelope.of(UserDeleted(user_id="u2"), producer="tests", user_id="u2")
    await parts.bus.publish(other, correlation_id=None)
    # Events of one user are handled one at a time, in queue order: once this marker of u1's
    # is handled, every delivery of u1's event before it has been too.
    marker = EventEnvelope.of(
        UserTokensRevoked(user_id="u1", token_version=1, reason="marker"),
        producer="tests",
        user_id="u1",
    )
    await parts.bus.publish(marker, correlation_id=None)

    async def counted() -> bool:
        processed = await parts.mongo.db.processed_events.count_documents({})
        return markers == [marker.id] and other.id in handled and processed == 3

    assert await eventually(counted)
    doc = await parts.mongo.db.effects.find_one({"_id": "counter"})
    assert doc is not None
    assert doc["n"] == 2
    assert sorted(set(handled)) == sorted(
        [envelope.id, other.id]
    )  # a retried transaction reruns it


async def test_malformed_and_failing_messages_end_in_the_dead_letter_queue(parts: Parts) -> None:
    async def always_fails(deleted: UserDeleted, event: EventContext, uow: UnitOfWork) -> None:
        raise RuntimeError("handler bug")

    consumer = IdempotentConsumer(parts.transactions, [on(UserDeleted, always_fails)])
    queue = f"{parts.names.queue_prefix}consumer.events"
    await parts.bus.consume(queue, consumer.event_types, consumer.on_message)

    # Not an envelope at all: dead-lettered at once.
    connection = await aio_pika.connect(parts.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(parts.names.exchange)
        await exchange.publish(aio_pika.Message(b"{not json"), routing_key="user.deleted")
    # A valid event whose handler keeps failing: dead-lettered after the delivery limit (3).
    envelope = EventEnvelope.of(UserDeleted(user_id="u1"), producer="tests", user_id="u1")
    await parts.bus.publish(envelope, correlation_id=None)

    async def both_dead_lettered() -> bool:
        return await count_in_queue(parts.amqp_url, f"{queue}.dlq") == 2

    assert await eventually(both_dead_lettered, timeout=10)
    assert await count_in_queue(parts.amqp_url, queue) == 0
    assert await parts.mongo.db.processed_events.count_documents({}) == 0


async def test_a_replay_safe_type_is_not_recorded(parts: Parts) -> None:
    """A handler that ignores what it has seen (here: a version check) needs no processed-event
    record; the same event three times still changes the state once."""

    async def keep_newest(revoked: UserTokensRevoked, event: EventContext, uow: UnitOfWork) -> None:
        await uow.db.versions.update_one(
            {"_id": revoked.user_id, "v": {"$lt": revoked.token_version}},
            {"$set": {"v": revoked.token_version}, "$inc": {"writes": 1}},
            upsert=False,
            session=uow.session,
        )

    await parts.mongo.db.versions.insert_one({"_id": "u1", "v": 0, "writes": 0})
    consumer = IdempotentConsumer(
        parts.transactions, [on(UserTokensRevoked, keep_newest, replay_safe=True)]
    )
    envelope = EventEnvelope.of(
        UserTokensRevoked(user_id="u1", token_version=3, reason="test"),
        producer="tests",
        user_id="u1",
    )
    assert [await consumer.handle(envelope) for _ in range(3)] == [True, True, True]
    doc = await parts.mongo.db.versions.find_one({"_id": "u1"})
    assert doc == {"_id": "u1", "v": 3, "writes": 1}
    assert await parts.mongo.db.processed_events.count_documents({}) == 0


async def test_a_stale_event_found_on_writing_leaves_nothing_written(parts: Parts) -> None:
    """``replace_if_newer`` writes and reads the previous version in one round trip; an event
    older than what is stored is rolled back whole (its other writes too) and counted as a
    duplicate."""

    async def project(revoked: UserTokensRevoked, event: EventContext, uow: UnitOfWork) -> None:
        await uow.db.effects.update_one(
            {"_id": "writes"}, {"$inc": {"n": 1}}, upsert=True, session=uow.session
        )
        after = {"_id": revoked.user_id, "version": revoked.token_version}
        await replace_if_newer(uow.db.projection, after, uow)

    consumer = IdempotentConsumer(
        parts.transactions, [on(UserTokensRevoked, project, replay_safe=True)]
    )

    def revoked(version: int) -> EventEnvelope:
        payload = UserTokensRevoked(user_id="u1", token_version=version, reason="test")
        return EventEnvelope.of(payload, producer="tests", user_id="u1")

    handled = [await consumer.handle(revoked(v)) for v in (2, 1, 2, 3)]
    assert handled == [True, False, False, True]
    assert await parts.mongo.db.projection.find_one({"_id": "u1"}) == {"_id": "u1", "version": 3}
    assert await parts.mongo.db.effects.find_one({"_id": "writes"}) == {"_id": "writes", "n": 2}


async def test_a_repeat_whose_handler_fails_is_still_a_repeat(parts: Parts) -> None:
    """The processed mark goes with the handler's writes, after it: a repeat's handler runs,
    and may fail where the first delivery did not (here: the profile it needs is gone). It is
    acknowledged as a duplicate, not requeued until it is dead-lettered; a first delivery that
    fails still fails."""
    profiles = {"u1"}

    async def notify(deleted: UserDeleted, event: EventContext, uow: UnitOfWork) -> None:
        if deleted.user_id not in profiles:
            raise LookupError(f"profile of {deleted.user_id} not known")
        uow.queue_update(uow.db.effects, {"_id": "sent"}, {"$inc": {"n": 1}}, upsert=True)

    consumer = IdempotentConsumer(parts.transactions, [on(UserDeleted, notify)])
    envelope = EventEnvelope.of(UserDeleted(user_id="u1"), producer="tests", user_id="u1")
    assert await consumer.handle(envelope) is True
    profiles.clear()
    assert await consumer.handle(envelope) is False
    never_handled = EventEnvelope.of(UserDeleted(user_id="u2"), producer="tests", user_id="u2")
    with pytest.raises(LookupError):
        await consumer.handle(never_handled)
    assert await parts.mongo.db.effects.find_one({"_id": "sent"}) == {"_id": "sent", "n": 1}
    assert await parts.mongo.db.processed_events.count_documents({}) == 1


async def deliver_one(
    parts: Parts, handler: Handler[UserDeleted], waits: UnreachableWaits
) -> tuple[str, EventEnvelope]:
    """A consumer of user.deleted with ``handler`` on its queue, and one such event sent to it."""
    consumer = IdempotentConsumer(parts.transactions, [on(UserDeleted, handler)], waits)
    queue = f"{parts.names.queue_prefix}consumer.events"
    await parts.bus.consume(queue, consumer.event_types, consumer.on_message)
    envelope = EventEnvelope.of(UserDeleted(user_id="u1"), producer="tests", user_id="u1")
    await parts.bus.publish(envelope, correlation_id=None)
    return queue, envelope


async def test_a_database_out_of_reach_does_not_use_up_the_deliveries(parts: Parts) -> None:
    """Five failed deliveries dead-letter a message (three here); a database down for longer
    than a few of the driver's five-second waits must not, so the delivery waits for it."""
    failures_left = 5  # more than the delivery limit
    handled: list[str] = []

    async def while_unreachable(deleted: UserDeleted, event: EventContext, uow: UnitOfWork) -> None:
        nonlocal failures_left
        if failures_left:
            failures_left -= 1
            raise AutoReconnect("127.0.0.1:27017: connection refused")
        handled.append(event.id)

    waits = UnreachableWaits(first=0.01, longest=0.05, give_up=5.0)
    queue, envelope = await deliver_one(parts, while_unreachable, waits)

    assert await eventually(lambda: asyncio.sleep(0, handled == [envelope.id]), timeout=10)
    assert failures_left == 0
    assert await count_in_queue(parts.amqp_url, f"{queue}.dlq") == 0


async def test_a_database_out_of_reach_for_too_long_is_a_failed_delivery(parts: Parts) -> None:
    async def never_reachable(deleted: UserDeleted, event: EventContext, uow: UnitOfWork) -> None:
        raise AutoReconnect("127.0.0.1:27017: connection refused")

    waits = UnreachableWaits(first=0.01, longest=0.02, give_up=0.05)
    queue, _ = await deliver_one(parts, never_reachable, waits)

    async def dead_lettered() -> bool:
        return await count_in_queue(parts.amqp_url, f"{queue}.dlq") == 1

    assert await eventually(dead_lettered, timeout=10)
