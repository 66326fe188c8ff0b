"""Which validly signed access tokens are still refused: those of deleted accounts, and those
older than their account's token version (raised by a password change or "log out everywhere").

Every process that verifies tokens (the gateway and each service but user_service, which reads
the account itself) keeps this state **in memory**, so a token check costs no database read and a
service reached directly refuses exactly what the gateway refuses. Three feeds keep it current:

- a per-process, exclusive broadcast queue bound to ``user.tokens_revoked`` and ``user.deleted``,
  so every replica hears every revocation at once (the service's durable queue is shared by its
  replicas: each event reaches only one of them);
- the service's durable, idempotent consumer, which records the revocation in the service's own
  ``token_state`` collection (and in the memory of the process that handled it);
- a load of ``token_state`` at start (the process is not ready before it), repeated every
  ``REFRESH_SECONDS`` for revocations this process could have missed while its broadcast queue
  did not exist (before start, or while the broker connection was down).

Revocations only ever grow (versions take the maximum, deletion is final), so the feeds may
deliver in any order and more than once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from shared.consumer import EventContext, Subscriptions, on
from shared.events import EventEnvelope, EventType, UserDeleted, UserTokensRevoked
from shared.mongo import Database
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

REVOCATION_EVENTS = (EventType.USER_TOKENS_REVOKED, EventType.USER_DELETED)
REFRESH_SECONDS = 30.0
# token_state rows written this long before the last load are read again on a refresh, for
# writes whose transaction committed after a later-stamped one.
REFRESH_OVERLAP = timedelta(seconds=60)

ACCOUNT_GONE = "account no longer exists"
TOKEN_REVOKED = "token has been revoked; log in again"  # noqa: S105 - a message


async def create_revocation_indexes(db: Database) -> None:
    await db.token_state.create_index("updated_at")


class Revocations:
    def __init__(self) -> None:
        self._min_version: dict[str, int] = {}
        self._deleted: set[str] = set()
        self._loaded_until: datetime | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded_until is not None

    def refusal(self, user_id: str, token_version: int) -> str | None:
        """Why a token of ``user_id`` at ``token_version`` is refused, or None if it is not."""
        if user_id in self._deleted:
            return ACCOUNT_GONE
        if token_version < self._min_version.get(user_id, 0):
            return TOKEN_REVOKED
        return None

    def raise_version(self, user_id: str, token_version: int) -> None:
        if token_version > self._min_version.get(user_id, 0):
            self._min_version[user_id] = token_version

    def delete_account(self, user_id: str) -> None:
        self._deleted.add(user_id)
        self._min_version.pop(user_id, None)

    def apply(self, envelope: EventEnvelope) -> None:
        payload = envelope.payload()
        if isinstance(payload, UserTokensRevoked):
            self.raise_version(payload.user_id, payload.token_version)
        elif isinstance(payload, UserDeleted):
            self.delete_account(payload.user_id)

    async def load(self, db: Database) -> None:
        """Reads what ``token_state`` gained since the last load (everything, the first time)."""
        started = datetime.now(UTC)
        query = {} if self._loaded_until is None else {"updated_at": {"$gte": self._loaded_until}}
        async for state in db.token_state.find(query):
            if state.get("deleted"):
                self.delete_account(state["_id"])
            elif "token_version" in state:
                self.raise_version(state["_id"], int(state["token_version"]))
        self._loaded_until = started - REFRESH_OVERLAP

    async def keep_loading(self, db: Database, every: float = REFRESH_SECONDS) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.load(db)
            except Exception:
                log.exception("reloading revocations failed; retrying in %ss", every)

    async def on_broadcast(self, message: AbstractIncomingMessage) -> None:
        try:
            self.apply(EventEnvelope.model_validate_json(message.body))
        except (ValidationError, ValueError) as exc:
            log.error("ignoring malformed revocation %s: %s", message.message_id, exc)

    def handlers(self) -> Subscriptions:
        """Durable handlers: record each revocation in ``token_state`` (and in memory)."""

        async def on_tokens_revoked(
            payload: UserTokensRevoked, event: EventContext, uow: UnitOfWork
        ) -> None:
            self.raise_version(payload.user_id, payload.token_version)
            # $max: versions only grow, so redelivered or reordered events leave the same state.
            await uow.db.token_state.update_one(
                {"_id": payload.user_id},
                {
                    "$max": {"token_version": payload.token_version},
                    "$set": {"updated_at": datetime.now(UTC)},
                },
                upsert=True,
                session=uow.session,
            )

        async def on_user_deleted(
            payload: UserDeleted, event: EventContext, uow: UnitOfWork
        ) -> None:
            self.delete_account(payload.user_id)
            await uow.db.token_state.update_one(
                {"_id": payload.user_id},
                {"$set": {"deleted": True, "updated_at": datetime.now(UTC)}},
                upsert=True,
                session=uow.session,
            )

        return [
            on(UserTokensRevoked, on_tokens_revoked),
            on(UserDeleted, on_user_deleted),
        ]
