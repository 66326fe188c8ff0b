"""Pushing new notifications to the live streams this process holds, without polling.

Storing a notification emits ``notification.created`` (through the outbox, after the commit).
Every notification_service process hears it on its own broadcast queue and wakes the streams it
holds for that user, which then read the feed from where they are: the feed stays the source of
truth (replay with ``Last-Event-ID``), the event only says "look now". Streams of one user at the
same place in the feed (every tab opened before the alert) share one read (``read_after``), so
an alert reaching many tabs costs one query, not one per tab.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from shared.events import EventEnvelope, EventType
from shared.mongo import Document

log = logging.getLogger(__name__)


class LiveStreams:
    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self._wakes = 0  # how many wakes so far, of anyone's streams
        # Reads under way, by (user, place in the feed): the wakes counted when each began.
        self._reads: dict[tuple[str, int], tuple[int, asyncio.Future[list[Document]]]] = {}
        self.closing = False

    def close_all(self) -> None:
        """The server is stopping: every stream ends now (browsers reconnect elsewhere with
        ``Last-Event-ID``), instead of holding the shutdown for its grace period."""
        self.closing = True
        for streams in self._waiting.values():
            for woken in streams:
                woken.set()

    @contextlib.contextmanager
    def watch(self, user_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the user's feed may have grown; clear it before reading."""
        woken = asyncio.Event()
        self._waiting.setdefault(user_id, set()).add(woken)
        try:
            yield woken
        finally:
            streams = self._waiting.get(user_id, set())
            streams.discard(woken)
            if not streams:
                self._waiting.pop(user_id, None)

    def wake(self, user_id: str) -> None:
        self._wakes += 1
        for woken in self._waiting.get(user_id, ()):
            woken.set()

    @property
    def wakes(self) -> int:
        """How many wakes so far: a stream notes it when it clears its event, and may then share
        only a read that began after that (after every wake it may be answering)."""
        return self._wakes

    async def read_after(
        self,
        user_id: str,
        after: int,
        noted: int,
        read: Callable[[], Awaitable[list[Document]]],
    ) -> list[Document]:
        """The feed after ``after``, by ``read``, or by a read of the same place already under
        way if it began once the wake ``noted`` had happened (so it sees what that wake
        announced). A reader that goes away (its client gone) does not end the read for the
        others."""
        key = (user_id, after)
        under_way = self._reads.get(key)
        if under_way is not None and under_way[0] >= noted:
            return await asyncio.shield(under_way[1])
        reading = asyncio.ensure_future(read())
        self._reads[key] = (self._wakes, reading)
        try:
            return await asyncio.shield(reading)
        finally:
            if key in self._reads and self._reads[key][1] is reading:
                del self._reads[key]

    @property
    def open_streams(self) -> int:
        return sum(len(streams) for streams in self._waiting.values())

    async def on_broadcast(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = EventEnvelope.model_validate_json(message.body)
        except (ValidationError, ValueError) as exc:
            log.error("ignoring malformed broadcast %s: %s", message.message_id, exc)
            return
        if envelope.type is EventType.NOTIFICATION_CREATED and envelope.user_id is not None:
            self.wake(envelope.user_id)
