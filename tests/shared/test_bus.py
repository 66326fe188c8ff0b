"""The RabbitMQ bus: consumers resume by themselves after the broker restarts."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess

import pytest
from aiormq.exceptions import PublishError

from shared.consumer import EventContext, IdempotentConsumer, on
from shared.events import EventEnvelope, EventType, UserDeleted, UserTokensRevoked
from shared.uow import UnitOfWork
from tests.conftest import USE_DOCKER
from tests.shared.conftest import Parts
from tests.support import eventually


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@pytest.mark.skipif(
    USE_DOCKER or shutil.which("rabbitmqctl") is None,
    reason="restarts the local broker with rabbitmqctl",
)
@pytest.mark.timeout(240)
async def test_consumer_and_publisher_resume_after_broker_restart(parts: Parts) -> None:
    seen: list[str] = []

    async def on_deleted(deleted: UserDeleted, event: EventContext, uow: UnitOfWork) -> None:
        seen.append(deleted.user_id)

    consumer = IdempotentConsumer(parts.transactions, [on(UserDeleted, on_deleted)])
    queue = f"{parts.names.queue_prefix}consumer.events"
    await parts.bus.consume(queue, consumer.event_types, consumer.on_message)
    await parts.bus.publish(
        EventEnvelope.of(UserDeleted(user_id="before"), producer="t", user_id=None),
        correlation_id=None,
    )
    assert await eventually(lambda: asyncio.sleep(0, "before" in seen))

    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        assert await eventually(
            lambda: asyncio.sleep(0, not parts.bus.is_connected()), what="the disconnect"
        )
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app")

    async def publish_after_restart() -> bool:
        try:
            await parts.bus.publish(
                EventEnvelope.of(UserDeleted(user_id="after"), producer="t", user_id=None),
                correlation_id=None,
            )
        except Exception:
            return False
        return True

    # The robust connection reconnects on its own (a few seconds), then publishing works again...
    assert await eventually(publish_after_restart, timeout=60, interval=1)
    # ...and the consumer, re-declared and re-subscribed by it, receives without any help.
    assert await eventually(lambda: asyncio.sleep(0, "after" in seen), timeout=30)
    assert parts.bus.is_connected()


async def test_a_type_bound_later_reaches_the_queue_from_then_on(parts: Parts) -> None:
    """A handler's type left unbound at start (shared.service.OnDemand) gets nothing until the
    queue is bound to it; then it does."""
    seen: list[str] = []

    async def on_event(
        payload: UserDeleted | UserTokensRevoked, event: EventContext, uow: UnitOfWork
    ) -> None:
        seen.append(f"{event.type.value}:{payload.user_id}")

    consumer = IdempotentConsumer(
        parts.transactions, [on(UserDeleted, on_event), on(UserTokensRevoked, on_event)]
    )
    queue = f"{parts.names.queue_prefix}consumer.events"
    await parts.bus.consume(queue, [EventType.USER_DELETED], consumer.on_message)

    async def publish(payload: UserDeleted | UserTokensRevoked) -> None:
        envelope = EventEnvelope.of(payload, producer="t", user_id=payload.user_id)
        await parts.bus.publish(envelope, correlation_id=None)

    # No queue takes it yet: the broker returns it (the bus publishes with ``mandatory``).
    with pytest.raises(PublishError, match="NO_ROUTE"):
        await publish(UserTokensRevoked(user_id="early", token_version=1, reason="t"))
    await publish(UserDeleted(user_id="marker"))
    assert await eventually(lambda: asyncio.sleep(0, "user.deleted:marker" in seen))
    assert seen == ["user.deleted:marker"]

    await parts.bus.bind(queue, [EventType.USER_TOKENS_REVOKED])
    await publish(UserTokensRevoked(user_id="late", token_version=1, reason="t"))
    assert await eventually(lambda: asyncio.sleep(0, "user.tokens_revoked:late" in seen))
    assert "user.tokens_revoked:early" not in seen


@pytest.mark.skipif(
    USE_DOCKER or shutil.which("rabbitmqctl") is None,
    reason="restarts the local broker with rabbitmqctl",
)
@pytest.mark.timeout(240)
async def test_events_written_while_the_broker_is_away_go_out_once_it_is_back(
    parts: Parts,
) -> None:
    """The relay does not try to publish while the broker is away: each failed try would put
    the entry's next one further off (2, 4, 8, 16 s...), so the events of an outage went out
    up to half a minute after the broker's return."""
    seen: list[str] = []

    async def on_deleted(deleted: UserDeleted, event: EventContext, uow: UnitOfWork) -> None:
        seen.append(deleted.user_id)

    async def emit(user_id: str) -> None:
        async def work(uow: UnitOfWork) -> None:
            uow.emit(UserDeleted(user_id=user_id), user_id=user_id)

        await parts.transactions.run(work)

    consumer = IdempotentConsumer(parts.transactions, [on(UserDeleted, on_deleted)])
    queue = f"{parts.names.queue_prefix}consumer.events"
    await parts.bus.consume(queue, consumer.event_types, consumer.on_message)
    relay = asyncio.create_task(parts.relay.run())
    try:
        await asyncio.to_thread(rabbitmqctl, "stop_app")
        try:
            assert await eventually(
                lambda: asyncio.sleep(0, not parts.bus.is_connected()), what="the disconnect"
            )
            for n in range(3):
                await emit(f"u{n}")  # committed while the broker is away
            await asyncio.sleep(10)  # the outage lasts (the scenario, not a wait for a fact)
        finally:
            await asyncio.to_thread(rabbitmqctl, "start_app")
        assert await eventually(
            lambda: asyncio.sleep(0, sorted(seen) == ["u0", "u1", "u2"]), timeout=60, interval=0.2
        )
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
    # Each was published once the broker was back: no tries while it was away (retries 2 s,
    # then 4 s, apart made four each). A second try is allowed: a quorum queue just restarted
    # may refuse a publish until it has a leader.
    attempts = [doc["attempts"] async for doc in parts.mongo.db.outbox.find({})]
    assert len(attempts) == 3
    assert max(attempts) <= 2
