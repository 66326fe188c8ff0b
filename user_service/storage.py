"""user_service's database ``users``: accounts and refresh-token sessions."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.mongo import Database, Document, utcnow
from shared.ratelimit import create_rate_limit_indexes


class RefreshState(StrEnum):
    ACTIVE = "active"
    ROTATED = "rotated"  # exchanged for a newer token of the same family
    REVOKED = "revoked"  # logout, password change, or reuse detected


async def create_indexes(db: Database) -> None:
    await create_rate_limit_indexes(db)  # login counters expire with their window
    await db.users.create_index("email", unique=True)
    await db.refresh_tokens.create_index("family_id")
    await db.refresh_tokens.create_index("user_id")
    await db.refresh_tokens.create_index("expires_at", expireAfterSeconds=0)
    await db.password_resets.create_index("user_id")
    # Kept a day past expiry, so a late click is told "expired" rather than "not valid".
    await db.password_resets.create_index("expires_at", expireAfterSeconds=24 * 3600)


def hash_refresh_token(token: str) -> str:
    # Stored hashed: a leaked database must not hand out working sessions.
    return hashlib.sha256(token.encode()).hexdigest()


def new_user_document(
    email: str, password_hash: str, name: str | None, currency: str, timezone: str
) -> Document:
    now = utcnow()
    return {
        "_id": str(uuid.uuid4()),
        "email": email,
        "password_hash": password_hash,
        "name": name,
        "currency": currency,
        "timezone": timezone,
        "token_version": 0,
        "created_at": now,
        "updated_at": now,
    }


class UserStore:
    def __init__(self, db: Database) -> None:
        self.users = db.users
        self.refresh_tokens = db.refresh_tokens

    async def by_id(
        self, user_id: str, session: AsyncClientSession | None = None
    ) -> Document | None:
        return await self.users.find_one({"_id": user_id}, session=session)

    async def by_email(self, email: str) -> Document | None:
        return await self.users.find_one({"email": email})

    async def update(
        self,
        user_id: str,
        changes: dict[str, Any],
        session: AsyncClientSession,
        *,
        bump_token_version: bool = False,
    ) -> Document | None:
        update: dict[str, Any] = {"$set": {**changes, "updated_at": datetime.now(UTC)}}
        if bump_token_version:
            update["$inc"] = {"token_version": 1}
        return await self.users.find_one_and_update(
            {"_id": user_id}, update, session=session, return_document=ReturnDocument.AFTER
        )

    async def new_refresh_token(
        self,
        user_id: str,
        family_id: str,
        lifetime: timedelta,
        session: AsyncClientSession | None = None,
    ) -> str:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        await self.refresh_tokens.insert_one(
            {
                "_id": hash_refresh_token(token),
                "user_id": user_id,
                "family_id": family_id,
                "state": RefreshState.ACTIVE.value,
                "created_at": now,
                "expires_at": now + lifetime,
            },
            session=session,
        )
        return token

    async def rotate(self, token: str) -> Document | None:
        """Marks an active, unexpired refresh token used; returns it, or None if it was not."""
        return await self.refresh_tokens.find_one_and_update(
            {
                "_id": hash_refresh_token(token),
                "state": RefreshState.ACTIVE.value,
                "expires_at": {"$gt": datetime.now(UTC)},
            },
            {"$set": {"state": RefreshState.ROTATED.value, "rotated_at": datetime.now(UTC)}},
        )

    async def find_refresh_token(self, token: str) -> Document | None:
        return await self.refresh_tokens.find_one({"_id": hash_refresh_token(token)})

    async def revoke_family(self, family_id: str) -> None:
        await self.refresh_tokens.update_many(
            {"family_id": family_id}, {"$set": {"state": RefreshState.REVOKED.value}}
        )

    async def revoke_all(self, user_id: str, session: AsyncClientSession) -> None:
        await self.refresh_tokens.update_many(
            {"user_id": user_id},
            {"$set": {"state": RefreshState.REVOKED.value}},
            session=session,
        )
