"""Live streams of one user share a feed read (pure logic: the read is a counting stand-in)."""

from __future__ import annotations

import asyncio

from notification_service.live import LiveStreams
from shared.mongo import Document


class Feed:
    """Counts reads; each read waits until ``release`` is set, so readers can pile up."""

    def __init__(self) -> None:
        self.reads = 0
        self.release = asyncio.Event()

    async def read(self) -> list[Document]:
        self.reads += 1
        await self.release.wait()
        return [{"seq": self.reads}]


async def test_streams_woken_together_share_one_read() -> None:
    live, feed = LiveStreams(), Feed()
    with live.watch("u1"), live.watch("u1"):
        live.wake("u1")
        noted = live.wakes
        readers = [
            asyncio.create_task(live.read_after("u1", 7, noted, feed.read)) for _ in range(100)
        ]
        await asyncio.sleep(0)  # every reader has joined
        feed.release.set()
        results = await asyncio.gather(*readers)
    assert feed.reads == 1
    assert all(result == [{"seq": 1}] for result in results)


async def test_a_read_begun_before_a_later_wake_is_not_shared() -> None:
    """A stream answering a wake that came after a read began must read again: that read may
    have missed what the wake announced."""
    live, feed = LiveStreams(), Feed()
    with live.watch("u1"):
        early = asyncio.create_task(live.read_after("u1", 7, live.wakes, feed.read))
        await asyncio.sleep(0)
        live.wake("u1")
        late = asyncio.create_task(live.read_after("u1", 7, live.wakes, feed.read))
        other_place = asyncio.create_task(live.read_after("u1", 9, 0, feed.read))
        await asyncio.sleep(0)
        feed.release.set()
        await asyncio.gather(early, late, other_place)
    assert feed.reads == 3


async def test_a_reader_that_goes_away_does_not_end_the_read_for_the_others() -> None:
    live, feed = LiveStreams(), Feed()
    first = asyncio.create_task(live.read_after("u1", 7, 0, feed.read))
    await asyncio.sleep(0)
    second = asyncio.create_task(live.read_after("u1", 7, 0, feed.read))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    feed.release.set()
    assert await second == [{"seq": 1}]
    assert feed.reads == 1
