"""user_service's HTTP API: ``/api/auth/*``, ``/api/users/me*`` and the public JWKS."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import ValidationError
from pymongo.errors import DuplicateKeyError

from shared.auth import CurrentUser, unauthorized
from shared.errors import DomainError, RateLimitedError, UnavailableError
from shared.events import UserDeleted, UserRegistered, UserTokensRevoked, UserUpdated
from shared.mongo import Document
from shared.ratelimit import RateLimiter, RateLimitUnavailableError, Window
from shared.service import Runtime
from user_service.keys import SigningKey
from user_service.ledger_client import ExpenseLedgerClient
from user_service.models import (
    LoginRequest,
    LogoutRequest,
    PasswordChange,
    ProfileUpdate,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    UserOut,
)
from user_service.passwords import PasswordHasher, StillWanted
from user_service.settings import Settings
from user_service.storage import RefreshState, UserStore, new_user_document
from user_service.tokens import TokenIssuer

log = logging.getLogger(__name__)


def get_store(runtime: Runtime) -> UserStore:
    return UserStore(runtime.db)


def get_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


def get_issuer(request: Request) -> TokenIssuer:
    issuer: TokenIssuer = request.app.state.token_issuer
    return issuer


def get_still_wanted(request: Request) -> StillWanted:
    async def still_wanted() -> bool:
        return not await request.is_disconnected()

    return still_wanted


class LoginThrottle:
    """Login attempts per account in a fixed window, counted atomically *before* the password
    is checked, so parallel guesses cannot overrun the limit. The counter holds attempts in
    progress plus failures: a successful login takes its attempt back, a failed one stays."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        assert isinstance(settings, Settings)
        self._settings = settings
        self._limiter = RateLimiter(runtime.db)

    async def attempt(self, email: str) -> LoginAttempt:
        limit = self._settings.login_failure_limit
        try:
            counter, window = await self._limiter.hit_document(
                f"login:{email}", self._settings.login_failure_window_seconds
            )
        except RateLimitUnavailableError:
            raise UnavailableError("login is briefly unavailable; retry shortly") from None
        if counter.get("failures", 0) >= limit:
            raise RateLimitedError(
                "too many failed logins for this account", retry_after=window.retry_after
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


Store = Annotated[UserStore, Depends(get_store)]
Hasher = Annotated[PasswordHasher, Depends(get_hasher)]
Issuer = Annotated[TokenIssuer, Depends(get_issuer)]
StillWantedCheck = Annotated[StillWanted, Depends(get_still_wanted)]
Throttle = Annotated[LoginThrottle, Depends()]


async def current_account(principal: CurrentUser, store: Store) -> Document:
    """The caller's account; refused if deleted or if the token predates a revocation."""
    user = await store.by_id(principal.user_id)
    if user is None:
        raise unauthorized("account no longer exists")
    if principal.token_version < user["token_version"]:
        raise unauthorized("token has been revoked; log in again")
    return user


Account = Annotated[Document, Depends(current_account)]

auth = APIRouter(prefix="/api/auth", tags=["auth"])
users = APIRouter(prefix="/api/users", tags=["users"])
keys = APIRouter(tags=["auth"])

WRONG_CREDENTIALS = "incorrect email or password"

# Browser sessions: a client that sends ``X-Refresh-Cookie: 1`` gets its refresh token as a
# cookie page scripts cannot read (HttpOnly, SameSite=Strict, sent only to /api/auth), and an
# empty ``refresh_token`` in the body. Refreshing from the cookie needs that header too: a
# cross-site form cannot send it, so the cookie alone never refreshes (CSRF).
REFRESH_COOKIE = "refresh_token"
REFRESH_COOKIE_PATH = "/api/auth"
COOKIE_MODE_HEADER = "X-Refresh-Cookie"


def wants_cookie(request: Request) -> bool:
    return request.headers.get(COOKIE_MODE_HEADER) == "1"


def hand_over(
    pair: TokenPair, request: Request, response: Response, issuer: TokenIssuer
) -> TokenPair:
    """The pair as the client asked for it: all in the body, or the refresh token as a cookie."""
    if not wants_cookie(request):
        return pair
    # The last X-Forwarded-Proto is the gateway's own (a client's comes before it).
    proto = (request.headers.getlist("x-forwarded-proto") or [request.url.scheme])[-1]
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=int(issuer.refresh_lifetime.total_seconds()),
        path=REFRESH_COOKIE_PATH,
        httponly=True,
        secure=proto == "https",
        samesite="strict",
    )
    return pair.model_copy(update={"refresh_token": ""})


def cookie_refresh_token(request: Request) -> str | None:
    return request.cookies.get(REFRESH_COOKIE) if wants_cookie(request) else None


def user_out(user: Document) -> UserOut:
    return UserOut(id=user["_id"], **{k: user[k] for k in UserOut.model_fields if k != "id"})


def profile_of(user: Document) -> dict[str, Any]:
    return {k: user[k] for k in ("email", "name", "currency", "timezone")} | {
        "user_id": user["_id"]
    }


@auth.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses={409: {"description": "An account with this email exists"}},
)
async def register(
    body: RegisterRequest,
    runtime: Runtime,
    hasher: Hasher,
    still_wanted: StillWantedCheck,
    response: Response,
) -> UserOut:
    password_hash = await hasher.hash(body.password, still_wanted)
    user = new_user_document(body.email, password_hash, body.name, body.currency, body.timezone)
    try:
        async with runtime.outbox.unit_of_work() as uow:
            await uow.db.users.insert_one(user, session=uow.session)
            await uow.emit(UserRegistered(**profile_of(user)), user_id=user["_id"])
    except DuplicateKeyError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "an account with this email already exists"
        ) from None
    response.headers["Location"] = "/api/users/me"
    return user_out(user)


@dataclass
class LoginDependencies:
    store: Store
    hasher: Hasher
    issuer: Issuer
    throttle: Throttle
    still_wanted: StillWantedCheck

    async def login(self, email: str, password: str) -> TokenPair:
        attempt = await self.throttle.attempt(email)
        user = await self.store.by_email(email)
        stored = user["password_hash"] if user else None
        try:
            matches = await self.hasher.verify(password, stored, self.still_wanted)
        except DomainError:
            await attempt.withdraw()  # unchecked (busy, or the client left): not a failure
            raise
        if not matches:
            await attempt.failed()
            raise unauthorized(WRONG_CREDENTIALS)
        assert user is not None
        await attempt.withdraw()
        return await self.issuer.start_session(self.store, user)


Login = Annotated[LoginDependencies, Depends()]


@auth.post("/login", response_model=TokenPair)
async def login(
    body: LoginRequest, logins: Login, request: Request, response: Response
) -> TokenPair:
    pair = await logins.login(body.email, body.password)
    return hand_over(pair, request, response, logins.issuer)


@auth.post(
    "/token",
    response_model=TokenPair,
    summary="Log in with an OAuth2 password form (what Swagger's Authorize sends)",
)
async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], logins: Login) -> TokenPair:
    try:
        credentials = LoginRequest(email=form.username, password=form.password)
    except ValidationError:
        raise unauthorized(WRONG_CREDENTIALS) from None
    return await logins.login(credentials.email, credentials.password)


@auth.post(
    "/refresh",
    response_model=TokenPair,
    summary="Exchange a refresh token for a new pair; each refresh token works once",
)
async def refresh(
    store: Store,
    issuer: Issuer,
    request: Request,
    response: Response,
    body: RefreshRequest | None = None,
) -> TokenPair:
    """The token comes in the body, or (with ``X-Refresh-Cookie: 1``) from the cookie."""
    presented = body.refresh_token if body is not None else cookie_refresh_token(request)
    if presented is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "refresh_token is required (or the refresh cookie with X-Refresh-Cookie: 1)",
        )
    used = await store.rotate(presented)
    if used is None:
        known = await store.find_refresh_token(presented)
        if known is not None and known["state"] != RefreshState.ACTIVE:
            # A used token presented again means it was copied: end that whole session.
            log.warning("refresh token reused; revoking session %s", known["family_id"])
            await store.revoke_family(known["family_id"])
        raise unauthorized("refresh token is invalid, expired or already used")
    user = await store.by_id(used["user_id"])
    if user is None:
        raise unauthorized("account no longer exists")
    pair = await issuer.continue_session(store, user, used["family_id"])
    return hand_over(pair, request, response, issuer)


@auth.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End this session (or, with everywhere, every session and access token)",
)
async def logout(
    body: LogoutRequest,
    principal: CurrentUser,
    store: Store,
    runtime: Runtime,
    request: Request,
    response: Response,
) -> None:
    if wants_cookie(request):
        response.delete_cookie(
            REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, httponly=True, samesite="strict"
        )
        if body.refresh_token is None:
            body = body.model_copy(update={"refresh_token": cookie_refresh_token(request)})
    if body.everywhere:
        async with runtime.outbox.unit_of_work() as uow:
            user = await store.update(principal.user_id, {}, uow.session, bump_token_version=True)
            if user is None:
                raise unauthorized("account no longer exists")
            await store.revoke_all(principal.user_id, uow.session)
            await uow.emit(
                UserTokensRevoked(
                    user_id=user["_id"],
                    token_version=user["token_version"],
                    reason="logout_everywhere",
                ),
                user_id=user["_id"],
            )
        return
    family_id = principal.session_id
    if body.refresh_token is not None:
        known = await store.find_refresh_token(body.refresh_token)
        if known is not None and known["user_id"] == principal.user_id:
            family_id = known["family_id"]
    if family_id is not None:
        await store.revoke_family(family_id)


@users.get("/me", response_model=UserOut)
async def read_me(account: Account) -> UserOut:
    return user_out(account)


@users.patch(
    "/me",
    response_model=UserOut,
    responses={409: {"description": "currency: the account already has expenses or budgets"}},
)
async def update_me(
    body: ProfileUpdate,
    account: Account,
    store: Store,
    runtime: Runtime,
    principal: CurrentUser,
    request: Request,
) -> UserOut:
    """The currency can change only while the account has no expenses or budgets: figures
    are never converted, so a change would relabel them (409 says so)."""
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(k) is None for k in ("currency", "timezone") if k in changes):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "currency and timezone cannot be null"
        )
    if "currency" in changes and changes["currency"] != account["currency"]:
        ledger: ExpenseLedgerClient = request.app.state.expense_ledger
        await ledger.change_currency(principal.token, changes["currency"])
    async with runtime.outbox.unit_of_work() as uow:
        user = await store.update(account["_id"], changes, uow.session)
        if user is None:
            raise unauthorized("account no longer exists")
        await uow.emit(UserUpdated(**profile_of(user)), user_id=user["_id"])
    return user_out(user)


@users.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete the account; every service purges its data on user.deleted",
)
async def delete_me(account: Account, store: Store, runtime: Runtime) -> None:
    async with runtime.outbox.unit_of_work() as uow:
        await uow.db.users.delete_one({"_id": account["_id"]}, session=uow.session)
        await store.revoke_all(account["_id"], uow.session)
        await uow.emit(UserDeleted(user_id=account["_id"]), user_id=account["_id"])


@users.post(
    "/me/password",
    response_model=TokenPair,
    summary="Change the password; ends every session and returns a new one",
)
async def change_password(
    body: PasswordChange,
    account: Account,
    store: Store,
    hasher: Hasher,
    issuer: Issuer,
    runtime: Runtime,
    still_wanted: StillWantedCheck,
    request: Request,
    response: Response,
) -> TokenPair:
    if not await hasher.verify(body.current_password, account["password_hash"], still_wanted):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "current password is incorrect")
    password_hash = await hasher.hash(body.new_password, still_wanted)
    async with runtime.outbox.unit_of_work() as uow:
        user = await store.update(
            account["_id"], {"password_hash": password_hash}, uow.session, bump_token_version=True
        )
        if user is None:
            raise unauthorized("account no longer exists")
        await store.revoke_all(account["_id"], uow.session)
        await uow.emit(
            UserTokensRevoked(
                user_id=user["_id"], token_version=user["token_version"], reason="password_changed"
            ),
            user_id=user["_id"],
        )
    return hand_over(await issuer.start_session(store, user), request, response, issuer)


@keys.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(request: Request, response: Response) -> dict[str, list[dict[str, Any]]]:
    key: SigningKey = request.app.state.signing_key
    response.headers["Cache-Control"] = "public, max-age=300"
    return {"keys": [key.public_jwk()]}
