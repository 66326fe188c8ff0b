"""user_service's HTTP API: ``/api/auth/*``, ``/api/users/me*`` and the public JWKS.

Routes only read the request and shape the answer; the rules are in user_service.accounts.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import ValidationError

from shared.auth import CurrentUser
from shared.errors import InvalidError, UnauthenticatedError
from shared.mongo import Document
from shared.service import Runtime
from user_service.accounts import WRONG_CREDENTIALS, Accounts, LoginThrottle
from user_service.keys import SigningKey
from user_service.models import (
    ForgotPassword,
    LoginRequest,
    LogoutRequest,
    PasswordChange,
    PasswordReset,
    ProfileUpdate,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    UserOut,
)
from user_service.passwords import StillWanted
from user_service.recovery import Recovery
from user_service.settings import Settings
from user_service.storage import UserStore


async def get_accounts(request: Request, runtime: Runtime) -> Accounts:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    state = request.app.state
    return Accounts(
        store=UserStore(runtime.db),
        transactions=runtime.transactions,
        hasher=state.password_hasher,
        issuer=state.token_issuer,
        throttle=LoginThrottle(runtime.db, settings),
        ledger=state.expense_ledger,
    )


async def get_still_wanted(request: Request) -> StillWanted:
    """Whether the client is still there (a queued password hash is dropped if not)."""

    async def still_wanted() -> bool:
        return not await request.is_disconnected()

    return still_wanted


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


async def get_recovery(request: Request, runtime: Runtime) -> Recovery:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    return Recovery(
        runtime.db,
        UserStore(runtime.db),
        runtime.transactions,
        request.app.state.password_hasher,
        settings,
    )


RecoveryDep = Annotated[Recovery, Depends(get_recovery)]
StillWantedCheck = Annotated[StillWanted, Depends(get_still_wanted)]


async def current_account(principal: CurrentUser, accounts: AccountsDep) -> Document:
    return await accounts.account(principal)


Account = Annotated[Document, Depends(current_account)]

auth = APIRouter(prefix="/api/auth", tags=["auth"])
users = APIRouter(prefix="/api/users", tags=["users"])
keys = APIRouter(tags=["auth"])


# Browser sessions: a client that sends ``X-Refresh-Cookie: 1`` gets its refresh token as a
# cookie page scripts cannot read (HttpOnly, SameSite=Strict, sent only to /api/auth), and an
# empty ``refresh_token`` in the body. Refreshing from the cookie needs that header too: a
# cross-site form cannot send it, so the cookie alone never refreshes (CSRF).
REFRESH_COOKIE = "refresh_token"
REFRESH_COOKIE_PATH = "/api/auth"
COOKIE_MODE_HEADER = "X-Refresh-Cookie"


def wants_cookie(request: Request) -> bool:
    return request.headers.get(COOKIE_MODE_HEADER) == "1"


def hand_over(pair: TokenPair, request: Request, response: Response, lifetime: int) -> TokenPair:
    """The pair as the client asked for it: all in the body, or the refresh token as a cookie."""
    if not wants_cookie(request):
        return pair
    # The last X-Forwarded-Proto is the gateway's own (a client's comes before it).
    proto = (request.headers.getlist("x-forwarded-proto") or [request.url.scheme])[-1]
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=lifetime,
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


@auth.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses={409: {"description": "An account with this email exists"}},
)
async def register(
    body: RegisterRequest,
    accounts: AccountsDep,
    still_wanted: StillWantedCheck,
    response: Response,
) -> UserOut:
    user = await accounts.register(body, still_wanted)
    response.headers["Location"] = "/api/users/me"
    return user_out(user)


@auth.post("/login", response_model=TokenPair)
async def login(
    body: LoginRequest,
    accounts: AccountsDep,
    still_wanted: StillWantedCheck,
    request: Request,
    response: Response,
) -> TokenPair:
    pair = await accounts.login(body.email, body.password, still_wanted)
    return hand_over(pair, request, response, int(accounts.issuer.refresh_lifetime.total_seconds()))


@auth.post(
    "/token",
    response_model=TokenPair,
    summary="Log in with an OAuth2 password form (what Swagger's Authorize sends)",
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    accounts: AccountsDep,
    still_wanted: StillWantedCheck,
) -> TokenPair:
    try:
        credentials = LoginRequest(email=form.username, password=form.password)
    except ValidationError:
        raise UnauthenticatedError(WRONG_CREDENTIALS) from None
    return await accounts.login(credentials.email, credentials.password, still_wanted)


@auth.post(
    "/refresh",
    response_model=TokenPair,
    summary="Exchange a refresh token for a new pair; each refresh token works once",
)
async def refresh(
    accounts: AccountsDep,
    request: Request,
    response: Response,
    body: RefreshRequest | None = None,
) -> TokenPair:
    """The token comes in the body, or (with ``X-Refresh-Cookie: 1``) from the cookie."""
    presented = body.refresh_token if body is not None else cookie_refresh_token(request)
    if presented is None:
        raise InvalidError(
            "refresh_token is required (or the refresh cookie with X-Refresh-Cookie: 1)"
        )
    pair = await accounts.refresh(presented)
    return hand_over(pair, request, response, int(accounts.issuer.refresh_lifetime.total_seconds()))


@auth.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End this session (or, with everywhere, every session and access token)",
)
async def logout(
    body: LogoutRequest,
    principal: CurrentUser,
    accounts: AccountsDep,
    request: Request,
    response: Response,
) -> None:
    refresh_token = body.refresh_token
    if wants_cookie(request):
        response.delete_cookie(
            REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, httponly=True, samesite="strict"
        )
        refresh_token = refresh_token or cookie_refresh_token(request)
    await accounts.logout(principal, refresh_token, everywhere=body.everywhere)


@auth.post(
    "/forgot-password",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Email a password reset link (202 whether or not the account exists)",
)
async def forgot_password(
    body: ForgotPassword, recovery: RecoveryDep, background: BackgroundTasks
) -> dict[str, str]:
    """The answer comes before the account is even looked up, so it takes the same time
    either way; for an existing account an email with a link valid for 30 minutes follows.
    Limited per address (and per IP at the gateway), counted for any address."""
    await recovery.admit(body.email)
    background.add_task(recovery.request, body.email)
    return {"detail": "if an account has this address, a reset link is on its way"}


@auth.post(
    "/reset-password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a new password with the token from a reset link",
    responses={400: {"description": "The token is unknown, used or expired"}},
)
async def reset_password(
    body: PasswordReset, recovery: RecoveryDep, still_wanted: StillWantedCheck
) -> None:
    """Ends every session and refuses every earlier access token, as a password change does;
    log in with the new password."""
    await recovery.reset(body.token, body.new_password, still_wanted)


@users.get("/me", response_model=UserOut)
async def read_me(account: Account) -> UserOut:
    return user_out(account)


@users.patch(
    "/me",
    response_model=UserOut,
    responses={409: {"description": "currency: the account already has expenses or budgets"}},
)
async def update_me(
    body: ProfileUpdate, account: Account, principal: CurrentUser, accounts: AccountsDep
) -> UserOut:
    """The currency can change only while the account has no expenses or budgets: figures
    are never converted, so a change would relabel them (409 says so)."""
    changes = body.model_dump(exclude_unset=True)
    return user_out(await accounts.update_profile(account, changes, principal))


@users.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete the account; every service purges its data on user.deleted",
)
async def delete_me(account: Account, accounts: AccountsDep) -> None:
    await accounts.delete(account)


@users.post(
    "/me/password",
    response_model=TokenPair,
    summary="Change the password; ends every session and returns a new one",
)
async def change_password(
    body: PasswordChange,
    account: Account,
    accounts: AccountsDep,
    still_wanted: StillWantedCheck,
    request: Request,
    response: Response,
) -> TokenPair:
    pair = await accounts.change_password(
        account, body.current_password, body.new_password, still_wanted
    )
    return hand_over(pair, request, response, int(accounts.issuer.refresh_lifetime.total_seconds()))


@keys.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(request: Request, response: Response) -> dict[str, list[dict[str, Any]]]:
    key: SigningKey = request.app.state.signing_key
    response.headers["Cache-Control"] = "public, max-age=300"
    return {"keys": [key.public_jwk()]}
