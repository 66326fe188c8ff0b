"""The RabbitMQ bus: consumers resume by themselves after the broker restarts."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from shared.consumer import EventContext, IdempotentConsumer, on
from shared.events import EventEnvelope, UserDeleted
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
