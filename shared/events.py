"""Every event of the system: its type (which is its routing key), its payload model, its envelope.

"Who publishes and who consumes X" is one grep for the ``EventType`` member. Producers and
consumers are listed beside each type; the payload models are the contract other services see.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventType(StrEnum):
    # producer user_service; consumers: notification (welcome, address), expense/budget (currency,
    # timezone); every service purges on user.deleted; gateway refuses tokens after these two.
    USER_REGISTERED = "user.registered"
    USER_UPDATED = "user.updated"
    USER_DELETED = "user.deleted"
    USER_TOKENS_REVOKED = "user.tokens_revoked"
    # producer expense_service; consumers budget_service, analytics_service.
    EXPENSE_CREATED = "expense.created"
    EXPENSE_UPDATED = "expense.updated"
    EXPENSE_DELETED = "expense.deleted"
    # producer budget_service; consumers analytics_service (+ notification for thresholds).
    BUDGET_UPSERTED = "budget.upserted"
    BUDGET_DELETED = "budget.deleted"
    BUDGET_THRESHOLD_REACHED = "budget.threshold_reached"

    @property
    def routing_key(self) -> str:
        return self.value


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserProfile(Payload):
    """What other services may keep of a user: enough to address and localise them."""

    user_id: str
    email: str
    name: str | None = None
    currency: str
    timezone: str


class UserRegistered(UserProfile):
    pass


class UserUpdated(UserProfile):
    pass


class UserDeleted(Payload):
    user_id: str


class UserTokensRevoked(Payload):
    """Access tokens whose ``tv`` claim is below ``token_version`` are refused from now on."""

    user_id: str
    token_version: int
    reason: str


PAYLOAD_MODELS: dict[EventType, type[Payload]] = {
    EventType.USER_REGISTERED: UserRegistered,
    EventType.USER_UPDATED: UserUpdated,
    EventType.USER_DELETED: UserDeleted,
    EventType.USER_TOKENS_REVOKED: UserTokensRevoked,
    # expense.* and budget.* payloads are defined with the services that produce them
    # (issues #3 and #4); until then nothing publishes those types.
}


class EventEnvelope(BaseModel):
    """The one message shape on the bus. AMQP ``message_id`` is ``id``; ``type`` is the key."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: EventType
    version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: str
    user_id: str | None = None
    data: dict[str, Any]

    @classmethod
    def of(cls, payload: Payload, *, producer: str, user_id: str | None) -> EventEnvelope:
        for event_type, model in PAYLOAD_MODELS.items():
            if type(payload) is model:
                return cls(
                    type=event_type,
                    producer=producer,
                    user_id=user_id,
                    data=payload.model_dump(mode="json"),
                )
        raise TypeError(f"{type(payload).__name__} is not a registered event payload")

    def payload(self) -> Payload:
        """The typed payload; raises ``ValidationError`` for a malformed message."""
        return PAYLOAD_MODELS[self.type].model_validate(self.data)
