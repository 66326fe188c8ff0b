"""How many messages the consumer parses at once (pure logic: the dispatch is a stand-in)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from pymongo.errors import AutoReconnect

from shared.consumer import LARGE_MESSAGE_BYTES, IdempotentConsumer, UnreachableWaits


async def most_at_once(body_bytes: int, messages: int = 3) -> int:
    consumer = IdempotentConsumer(transactions=cast(Any, None), subscriptions=[])
    running, most = 0, 0
    release = asyncio.Event()

    async def dispatch(message: Any, *, wait_for_database: bool = False) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1

    consumer._dispatch = dispatch  # type: ignore[method-assign]
    body = b"x" * body_bytes
    tasks = [
        asyncio.create_task(
            consumer.on_message(cast(Any, SimpleNamespace(body=body, correlation_id=None)))
        )
        for _ in range(messages)
    ]
    # Every task has run as far as it can once the loop has had a turn for each.
    for _ in range(10):
        await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*tasks)
    return most


async def test_large_messages_are_handled_one_at_a_time() -> None:
    assert await most_at_once(LARGE_MESSAGE_BYTES + 1) == 1


async def test_small_messages_are_handled_together() -> None:
    assert await most_at_once(200) == 3


async def test_a_large_message_waiting_for_the_database_lets_others_through() -> None:
    """Held through its waits (up to ten minutes), the one slot for large messages would keep
    the others unacknowledged until RabbitMQ's consumer timeout closed the channel."""
    waits = UnreachableWaits(first=0.05, longest=0.05, give_up=5.0)
    consumer = IdempotentConsumer(transactions=cast(Any, None), subscriptions=[], unreachable=waits)
    order: list[str] = []

    async def dispatch(message: Any, *, wait_for_database: bool = False) -> None:
        order.append(message.message_id)
        if order == ["first"]:
            raise AutoReconnect("127.0.0.1:27017: connection refused")

    consumer._dispatch = dispatch  # type: ignore[method-assign]
    body = b"x" * (LARGE_MESSAGE_BYTES + 1)
    messages = [
        SimpleNamespace(body=body, correlation_id=None, message_id=name)
        for name in ("first", "second")
    ]
    await asyncio.gather(*(consumer.on_message(cast(Any, m)) for m in messages))
    assert order == ["first", "second", "first"]
