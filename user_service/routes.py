"""user_service's HTTP API: ``/api/auth/*``, ``/api/users/me*`` and the public JWKS.

Routes only read the request and shape the answer; the rules are in user_service.accounts.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import ValidationError

from shared.auth import CurrentUser
from shared.errors import UnauthenticatedError
from shared.mongo import Document
from shared.service import Runtime
from user_service.accounts import WRONG_CREDENTIALS, Accounts, LoginThrottle
from user_service.keys import SigningKey
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
from user_service.passwords import StillWanted
from user_service.settings import Settings
from user_service.storage import UserStore


def get_accounts(request: Request, runtime: Runtime) -> Accounts:
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


def get_still_wanted(request: Request) -> StillWanted:
    """Whether the client is still there (a queued password hash is dropped if not)."""

    async def still_wanted() -> bool:
        return not await request.is_disconnected()

    return still_wanted


AccountsDep = Annotated[Accounts, Depends(get_accounts)]
StillWantedCheck = Annotated[StillWanted, Depends(get_still_wanted)]


async def current_account(principal: CurrentUser, accounts: AccountsDep) -> Document:
    return await accounts.account(principal)


Account = Annotated[Document, Depends(current_account)]

auth = APIRouter(prefix="/api/auth", tags=["auth"])
users = APIRouter(prefix="/api/users", tags=["users"])
keys = APIRouter(tags=["auth"])


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
    body: LoginRequest, accounts: AccountsDep, still_wanted: StillWantedCheck
) -> TokenPair:
    return await accounts.login(body.email, body.password, still_wanted)


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
async def refresh(body: RefreshRequest, accounts: AccountsDep) -> TokenPair:
    return await accounts.refresh(body.refresh_token)


@auth.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End this session (or, with everywhere, every session and access token)",
)
async def logout(body: LogoutRequest, principal: CurrentUser, accounts: AccountsDep) -> None:
    await accounts.logout(principal, body.refresh_token, everywhere=body.everywhere)


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
) -> TokenPair:
    return await accounts.change_password(
        account, body.current_password, body.new_password, still_wanted
    )


@keys.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(request: Request, response: Response) -> dict[str, list[dict[str, Any]]]:
    key: SigningKey = request.app.state.signing_key
    response.headers["Cache-Control"] = "public, max-age=300"
    return {"keys": [key.public_jwk()]}
