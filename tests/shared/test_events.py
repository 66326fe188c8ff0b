"""The event catalogue and envelope (pure logic)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.events import (
    PAYLOAD_MODELS,
    EventEnvelope,
    EventType,
    Payload,
    UserDeleted,
    UserRegistered,
    UserTokensRevoked,
)


def test_envelope_takes_type_from_payload_model() -> None:
    envelope = EventEnvelope.of(UserDeleted(user_id="u1"), producer="user_service", user_id="u1")
    assert envelope.type is EventType.USER_DELETED
    assert envelope.type.routing_key == "user.deleted"
    assert envelope.data == {"user_id": "u1"}
    assert envelope.version == 1


def test_envelope_round_trips_through_json_with_typed_payload() -> None:
    sent = EventEnvelope.of(
        UserTokensRevoked(user_id="u1", token_version=3, reason="password_changed"),
        producer="user_service",
        user_id="u1",
    )
    received = EventEnvelope.model_validate_json(sent.model_dump_json())
    assert received == sent
    payload = received.payload()
    assert isinstance(payload, UserTokensRevoked)
    assert payload.token_version == 3


def test_registered_and_updated_share_fields_but_keep_distinct_types() -> None:
    profile = {"user_id": "u", "email": "a@b.co", "currency": "USD", "timezone": "UTC"}
    envelope = EventEnvelope.of(UserRegistered(**profile), producer="p", user_id="u")
    assert envelope.type is EventType.USER_REGISTERED


def test_payload_not_in_catalogue_is_refused() -> None:
    class Stray(Payload):
        x: int

    with pytest.raises(TypeError, match="not a registered event payload"):
        EventEnvelope.of(Stray(x=1), producer="p", user_id=None)


def test_malformed_payload_fails_validation() -> None:
    envelope = EventEnvelope(type=EventType.USER_DELETED, producer="p", data={"nope": 1})
    with pytest.raises(ValidationError):
        envelope.payload()


def test_every_registered_model_is_a_payload() -> None:
    assert all(issubclass(model, Payload) for model in PAYLOAD_MODELS.values())
    assert set(PAYLOAD_MODELS) <= set(EventType)
