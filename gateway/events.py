"""Events the gateway consumes: none of its own. Token revocations (``user.tokens_revoked``,
``user.deleted``) are kept by the one app factory for every process that verifies tokens
(see shared.revocations)."""

from __future__ import annotations

from shared.consumer import Subscriptions

HANDLERS: Subscriptions = []
