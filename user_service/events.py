"""Events user_service consumes: none. It produces user.* (see shared.events) via the outbox."""

from __future__ import annotations

from collections.abc import Mapping

from shared.consumer import Handler
from shared.events import EventType

HANDLERS: Mapping[EventType, Handler] = {}
