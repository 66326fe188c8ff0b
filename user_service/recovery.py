"""Password recovery: a reset link by email, and setting a new password with it.

``request`` answers nothing about the account: the route replies 202 before it runs (so an
unknown address and a known one take the same time to answer) and it only ever emails the
account's own address. The link carries a random token; only its SHA-256 is stored, with an
expiry of 30 minutes, and using it marks it used in the same transaction that sets the password,
raises the token version and ends every session (as a password change does), so it works once.

The link travels to notification_service's mail path in ``user.password_reset_requested``: it is
in the outbox and the email queue until sent, which is why it is short-lived and single-use.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.errors import DomainError, RateLimitedError, UnavailableError
from shared.events import PasswordResetRequested, UserTokensRevoked
from shared.mongo import Database, utcnow
from shared.ratelimit import RateLimiter, RateLimitUnavailableError
from shared.uow import Transactions, UnitOfWork
from user_service.passwords import PasswordHasher, StillWanted
from user_service.settings import Settings
from user_service.storage import UserStore

log = logging.getLogger(__name__)

RESET_MINUTES = 30


class ResetLinkError(DomainError):
    """A reset token that is unknown, used or expired (400)."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Recovery:
    db: Database
    store: UserStore
    transactions: Transactions
    hasher: PasswordHasher
    settings: Settings

    async def admit(self, email: str) -> None:
        """Counts a reset request for this address before anything else (any address, known
        or not: the limit says nothing about whether the account exists)."""
        try:
            counter, window = await RateLimiter(self.db).hit_document(
                f"reset:{email}", self.settings.reset_window_seconds
            )
        except RateLimitUnavailableError:
            raise UnavailableError("password reset is briefly unavailable; retry shortly") from None
        if counter["count"] > self.settings.reset_limit:
            raise RateLimitedError(
                "too many reset requests for this address; wait before asking again",
                retry_after=window.retry_after,
            )

    async def request(self, email: str) -> None:
        """Emails a reset link to the account with this address, if there is one. Runs after
        the answer has gone out; failures are logged, never shown."""
        user = await self.store.by_email(email)
        if user is None:
            return
        token = secrets.token_urlsafe(32)
        expires = utcnow() + timedelta(minutes=RESET_MINUTES)
        # In the fragment, so the token never reaches a server's access log.
        link = f"{self.settings.public_url.rstrip('/')}/reset-password#token={token}"

        async def write(uow: UnitOfWork) -> None:
            await uow.db.password_resets.insert_one(
                {
                    "_id": token_digest(token),
                    "user_id": user["_id"],
                    "created_at": utcnow(),
                    "expires_at": expires,
                    "used_at": None,
                },
                session=uow.session,
            )
            uow.emit(
                PasswordResetRequested(
                    user_id=user["_id"],
                    email=user["email"],
                    reset_url=link,
                    expires_at=expires,
                ),
                user_id=user["_id"],
            )

        try:
            await self.transactions.run(write)
        except Exception:
            log.exception("password reset for %s not requested", user["_id"])

    async def reset(self, token: str, new_password: str, still_wanted: StillWanted) -> None:
        digest = token_digest(token)
        # Checked before the costly hash, so made-up tokens cost no bcrypt work; checked again,
        # and used, in the transaction below.
        probe = await self.db.password_resets.find_one(
            {"_id": digest, "used_at": None, "expires_at": {"$gt": datetime.now(UTC)}}, {"_id": 1}
        )
        if probe is None:
            raise await self._why_refused(digest)
        password_hash = await self.hasher.hash(new_password, still_wanted)

        async def write(uow: UnitOfWork) -> None:
            now = datetime.now(UTC)
            found = await uow.db.password_resets.find_one_and_update(
                {"_id": digest, "used_at": None, "expires_at": {"$gt": now}},
                {"$set": {"used_at": now}},
                session=uow.session,
            )
            if found is None:
                raise await self._why_refused(digest, uow)
            user = await self.store.update(
                found["user_id"],
                {"password_hash": password_hash},
                uow.session,
                bump_token_version=True,
            )
            if user is None:
                raise ResetLinkError("this reset link is not valid: the account no longer exists")
            await self.store.revoke_all(user["_id"], uow.session)
            await uow.db.password_resets.update_many(
                {"user_id": user["_id"], "used_at": None},
                {"$set": {"used_at": now}},
                session=uow.session,
            )  # any other link sent before is void too
            uow.emit(
                UserTokensRevoked(
                    user_id=user["_id"],
                    token_version=user["token_version"],
                    reason="password_reset",
                ),
                user_id=user["_id"],
            )

        await self.transactions.run(write)

    async def _why_refused(self, digest: str, uow: UnitOfWork | None = None) -> ResetLinkError:
        session = uow.session if uow is not None else None
        known = await self.db.password_resets.find_one({"_id": digest}, session=session)
        if known is None:
            return ResetLinkError("this reset link is not valid; ask for a new one")
        if known["used_at"] is not None:
            return ResetLinkError("this reset link has already been used; ask for a new one")
        return ResetLinkError(
            f"this reset link has expired (links last {RESET_MINUTES} minutes); ask for a new one"
        )
