"""Events the gateway consumes: revocations, kept in ``token_state`` (see storage.Revocations)."""

from __future__ import annotations

from collections.abc import Mapping

from shared.consumer import Handler
from shared.events import EventEnvelope, EventType, UserDeleted, UserTokensRevoked
from shared.outbox import UnitOfWork


async def on_tokens_revoked(event: EventEnvelope, uow: UnitOfWork) -> None:
    payload = event.payload()
    assert isinstance(payload, UserTokensRevoked)
    # $max: versions only grow, so redelivered or reordered events leave the same state.
    await uow.db.token_state.update_one(
        {"_id": payload.user_id},
        {"$max": {"token_version": payload.token_version}},
        upsert=True,
        session=uow.session,
    )


async def on_user_deleted(event: EventEnvelope, uow: UnitOfWork) -> None:
    payload = event.payload()
    assert isinstance(payload, UserDeleted)
    await uow.db.token_state.update_one(
        {"_id": payload.user_id}, {"$set": {"deleted": True}}, upsert=True, session=uow.session
    )


HANDLERS: Mapping[EventType, Handler] = {
    EventType.USER_TOKENS_REVOKED: on_tokens_revoked,
    EventType.USER_DELETED: on_user_deleted,
}
