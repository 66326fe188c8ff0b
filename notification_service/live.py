"""Pushing new notifications to the live streams this process holds, without polling.

Storing a notification emits ``notification.created`` (through the outbox, after the commit).
Every notification_service process hears it on its own broadcast queue and wakes the streams it
holds for that user, which then read the feed from where they are: the feed stays the source of
truth (replay with ``Last-Event-ID``), the event only says "look now".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from shared.events import EventEnvelope, EventType

log = logging.getLogger(__name__)


class LiveStreams:
    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

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
        for woken in self._waiting.get(user_id, ()):
            woken.set()

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
