"""Accounts and sessions: the rules of user_service, apart from HTTP.

Registering, logging in (counted by ``LoginThrottle`` before the password is checked), refresh
rotation with reuse detection, logging out (one session or everywhere), the profile (whose
currency only changes while nothing is recorded in it), password changes and deletion. Every
change and its event commit in one transaction (shared.uow); failures are domain errors
(shared.errors) that the app factory turns into HTTP answers.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from shared.auth import Principal
from shared.errors import (
    ConflictError,
    DomainError,
    InvalidError,
    RateLimitedError,
    UnauthenticatedError,
    UnavailableError,
)
from shared.events import UserDeleted, UserRegistered, UserTokensRevoked, UserUpdated
from shared.mongo import Database, Document
from shared.ratelimit import RateLimiter, RateLimitUnavailableError, Window
from shared.uow import Transactions, UnitOfWork
from user_service.ledger_client import ExpenseLedgerClient
from user_service.models import RegisterRequest, TokenPair
from user_service.passwords import PasswordHasher, StillWanted
from user_service.settings import Settings
from user_service.storage import RefreshState, UserStore, new_user_document
from user_service.tokens import TokenIssuer

log = logging.getLogger(__name__)

WRONG_CREDENTIALS = "incorrect email or password"
ACCOUNT_GONE = "account no longer exists"


class WrongPasswordError(DomainError):
    """The current password given to authorise a change is not the account's (400)."""


def profile_of(user: Document) -> dict[str, Any]:
    return {k: user[k] for k in ("email", "name", "currency", "timezone")} | {
        "user_id": user["_id"]
    }


class LoginThrottle:
    """Login attempts per account, counted atomically *before* the password is checked, so
    parallel guesses cannot overrun the limit. The counter holds attempts in progress plus
    failures: a successful login takes its attempt back, a failed one stays. Failures count
    in the current window and the one before it: with the current window alone, guesses on
    both sides of a boundary got twice the limit (and the lock lifted at the boundary)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._settings = settings
        self._limiter = RateLimiter(db)

    async def attempt(self, email: str) -> LoginAttempt:
        limit = self._settings.login_failure_limit
        try:
            counter, window = await self._limiter.hit_document(
                f"login:{email}", self._settings.login_failure_window_seconds
            )
            current = int(counter.get("failures", 0))
            # The window before is read only when this one's failures alone do not lock.
            earlier = 0 if current >= limit else await self._limiter.earlier(window, "failures")
        except RateLimitUnavailableError:
            raise UnavailableError("login is briefly unavailable; retry shortly") from None
        if current + earlier >= limit:
            # This window's own failures still count through the next one.
            retry_after = (
                str(math.ceil(window.remaining) + window.seconds)
                if current >= limit
                else window.retry_after
            )
            raise RateLimitedError(
                "too many failed logins for this account", retry_after=retry_after
            )
        if counter["count"] > limit:
            await self._limiter.add(window, "count", -1)  # refused unchecked: not a failure
            raise RateLimitedError("too many logins for this account at once", retry_after="1")
        return LoginAttempt(self._limiter, window)


@dataclass
class LoginAttempt:
    limiter: RateLimiter
    window: Window

    async def failed(self) -> None:
        await self.limiter.add(self.window, "failures", 1)

    async def withdraw(self) -> None:
        await self.limiter.add(self.window, "count", -1)


@dataclass
class Accounts:
    store: UserStore
    transactions: Transactions
    hasher: PasswordHasher
    issuer: TokenIssuer
    throttle: LoginThrottle
    ledger: ExpenseLedgerClient

    async def account(self, principal: Principal) -> Document:
        """The caller's account; refused if deleted or if the token predates a revocation."""
        user = await self.store.by_id(principal.user_id)
        if user is None:
            raise UnauthenticatedError(ACCOUNT_GONE)
        if principal.token_version < user["token_version"]:
            raise UnauthenticatedError("token has been revoked; log in again")
        return user

    async def register(self, body: RegisterRequest, still_wanted: StillWanted) -> Document:
        password_hash = await self.hasher.hash(body.password, still_wanted)
        user = new_user_document(body.email, password_hash, body.name, body.currency, body.timezone)

        async def write(uow: UnitOfWork) -> None:
            await uow.db.users.insert_one(user, session=uow.session)
            uow.emit(UserRegistered(**profile_of(user)), user_id=user["_id"])

        try:
            await self.transactions.run(write)
        except DuplicateKeyError:
            raise ConflictError("an account with this email already exists") from None
        return user

    async def login(self, email: str, password: str, still_wanted: StillWanted) -> TokenPair:
        attempt = await self.throttle.attempt(email)
        try:
            user = await self.store.by_email(email)
            stored = user["password_hash"] if user else None
            matches = await self.hasher.verify(password, stored, still_wanted)
        except BaseException:
            await attempt.withdraw()  # unchecked (busy, client gone, an error): not a failure
            raise
        if not matches:
            await attempt.failed()
            raise UnauthenticatedError(WRONG_CREDENTIALS)
        assert user is not None
        await attempt.withdraw()
        return await self.issuer.start_session(self.store, user)

    async def refresh(self, refresh_token: str) -> TokenPair:
        used = await self.store.rotate(refresh_token)
        if used is None:
            known = await self.store.find_refresh_token(refresh_token)
            if known is not None and known["state"] != RefreshState.ACTIVE:
                # A used token presented again means it was copied: end that whole session.
                log.warning("refresh token reused; revoking session %s", known["family_id"])
                await self.store.revoke_family(known["family_id"])
            raise UnauthenticatedError("refresh token is invalid, expired or already used")
        user = await self.store.by_id(used["user_id"])
        if user is None:
            raise UnauthenticatedError(ACCOUNT_GONE)
        return await self.issuer.continue_session(self.store, user, used["family_id"])

    async def logout(
        self, principal: Principal, refresh_token: str | None, *, everywhere: bool
    ) -> None:
        if everywhere:
            await self._revoke_tokens(principal.user_id, {}, reason="logout_everywhere")
            return
        family_id = principal.session_id
        if refresh_token is not None:
            known = await self.store.find_refresh_token(refresh_token)
            if known is not None and known["user_id"] == principal.user_id:
                family_id = known["family_id"]
        if family_id is not None:
            await self.store.revoke_family(family_id)

    async def update_profile(
        self, account: Document, changes: dict[str, Any], principal: Principal
    ) -> Document:
        """The currency can change only while the account has no expenses or budgets: figures
        are never converted, so a change would relabel them (expense_service decides)."""
        if any(changes.get(k) is None for k in ("currency", "timezone") if k in changes):
            raise InvalidError("currency and timezone cannot be null")
        if "currency" in changes and changes["currency"] != account["currency"]:
            await self.ledger.change_currency(principal.token, changes["currency"])

        async def write(uow: UnitOfWork) -> Document:
            user = await self.store.update(account["_id"], changes, uow.session)
            if user is None:
                raise UnauthenticatedError(ACCOUNT_GONE)
            uow.emit(UserUpdated(**profile_of(user)), user_id=user["_id"])
            return user

        return await self.transactions.run(write)

    async def delete(self, account: Document) -> None:
        async def write(uow: UnitOfWork) -> None:
            await uow.db.users.delete_one({"_id": account["_id"]}, session=uow.session)
            # Its sessions and reset links go with it, not merely revoked: nothing of a
            # deleted account is kept (its tokens are refused from token_state).
            for sessions_and_links in (uow.db.refresh_tokens, uow.db.password_resets):
                await sessions_and_links.delete_many(
                    {"user_id": account["_id"]}, session=uow.session
                )
            uow.emit(UserDeleted(user_id=account["_id"]), user_id=account["_id"])

        await self.transactions.run(write)

    async def change_password(
        self, account: Document, current: str, new: str, still_wanted: StillWanted
    ) -> TokenPair:
        if not await self.hasher.verify(current, account["password_hash"], still_wanted):
            raise WrongPasswordError("current password is incorrect")
        password_hash = await self.hasher.hash(new, still_wanted)
        user = await self._revoke_tokens(
            account["_id"], {"password_hash": password_hash}, reason="password_changed"
        )
        return await self.issuer.start_session(self.store, user)

    async def _revoke_tokens(
        self, user_id: str, changes: dict[str, Any], *, reason: str
    ) -> Document:
        """Raises the token version (every earlier access token is refused, here and, through
        user.tokens_revoked, everywhere) and ends every session, with ``changes``."""

        async def write(uow: UnitOfWork) -> Document:
            user = await self.store.update(user_id, changes, uow.session, bump_token_version=True)
            if user is None:
                raise UnauthenticatedError(ACCOUNT_GONE)
            await self.store.revoke_all(user_id, uow.session)
            # A reset link sent before no longer works either.
            await uow.db.password_resets.update_many(
                {"user_id": user_id, "used_at": None},
                {"$set": {"used_at": datetime.now(UTC)}},
                session=uow.session,
            )
            uow.emit(
                UserTokensRevoked(
                    user_id=user["_id"], token_version=user["token_version"], reason=reason
                ),
                user_id=user["_id"],
            )
            return user

        return await self.transactions.run(write)
