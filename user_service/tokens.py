"""Issuing access tokens (short-lived JWTs) and their sessions (rotating refresh tokens)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt

from shared.auth import ALGORITHM
from shared.mongo import Document
from user_service.keys import SigningKey
from user_service.models import TokenPair
from user_service.settings import Settings
from user_service.storage import UserStore


class TokenIssuer:
    def __init__(self, key: SigningKey, settings: Settings) -> None:
        self._key = key
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.access_lifetime = timedelta(minutes=settings.access_token_minutes)
        self.refresh_lifetime = timedelta(days=settings.refresh_token_days)

    def access_token(self, user_id: str, token_version: int, session_id: str) -> str:
        now = datetime.now(UTC)
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user_id,
            "iat": now,
            "exp": now + self.access_lifetime,
            "jti": uuid.uuid4().hex,
            "typ": "access",
            # The gateway refuses tokens whose version is below the account's current one.
            "tv": token_version,
            "sid": session_id,
        }
        return jwt.encode(
            claims, self._key.private_key, algorithm=ALGORITHM, headers={"kid": self._key.kid}
        )

    async def start_session(self, store: UserStore, user: Document) -> TokenPair:
        """A new refresh-token family (one per login) and a first access token for it."""
        return await self.continue_session(store, user, family_id=uuid.uuid4().hex)

    async def continue_session(self, store: UserStore, user: Document, family_id: str) -> TokenPair:
        refresh = await store.new_refresh_token(user["_id"], family_id, self.refresh_lifetime)
        return TokenPair(
            access_token=self.access_token(user["_id"], user["token_version"], family_id),
            refresh_token=refresh,
            expires_in=int(self.access_lifetime.total_seconds()),
        )
