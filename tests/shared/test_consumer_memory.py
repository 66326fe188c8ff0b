"""How many messages the consumer parses at once (pure logic: the dispatch is a stand-in)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from shared.consumer import LARGE_MESSAGE_BYTES, IdempotentConsumer


async def most_at_once(body_bytes: int, messages: int = 3) -> int:
    consumer = IdempotentConsumer(transactions=cast(Any, None), subscriptions=[])
    running, most = 0, 0
    release = asyncio.Event()

    async def dispatch(message: Any) -> None:
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
