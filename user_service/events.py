"""Events user_service consumes: none. It produces user.* (see shared.events) via the outbox."""

from __future__ import annotations

from shared.consumer import Subscriptions

HANDLERS: Subscriptions = []
