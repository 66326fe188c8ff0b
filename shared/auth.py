"""Access-token verification, shared by the gateway and every service.

Tokens are EdDSA (Ed25519) JWTs signed by user_service alone; everyone else verifies them with
the public keys user_service publishes as a JWKS. The algorithm is pinned and ``exp``, ``iat``,
``iss``, ``aud`` and ``sub`` are required, so ``alg: none``, HS256-with-the-public-key and
tokens from another issuer or audience all fail.

Services verify the forwarded token themselves instead of trusting an identity header, so a
caller who reaches a service directly cannot claim to be someone else.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import State

from shared.errors import UnauthenticatedError
from shared.revocations import Revocations

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
JWKS_REFRESH_MIN_INTERVAL = 30.0

KeyLookup = Callable[[str], Awaitable[Any]]


class RejectedTokenError(Exception):
    pass


@dataclass(frozen=True)
class Principal:
    """The verified caller: who they are, and which generation of their tokens this one is."""

    user_id: str
    token_version: int
    session_id: str | None
    token: str


class JwksKeys:
    """Public keys by ``kid`` from a JWKS URL, refetched (at most every 30 s) for an unknown kid."""

    def __init__(self, url: str, http: httpx.AsyncClient | None = None) -> None:
        self._url = url
        self._http = http
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def __call__(self, kid: str) -> Any:
        if kid not in self._keys:
            async with self._lock:
                if kid not in self._keys and (
                    time.monotonic() - self._fetched_at > JWKS_REFRESH_MIN_INTERVAL
                    or not self._keys
                ):
                    await self._fetch()
        try:
            return self._keys[kid]
        except KeyError:
            raise RejectedTokenError("unknown signing key") from None

    async def _fetch(self) -> None:
        try:
            if self._http is not None:
                response = await self._http.get(self._url, timeout=5.0)
            else:
                async with httpx.AsyncClient() as http:
                    response = await http.get(self._url, timeout=5.0)
            response.raise_for_status()
            key_set = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, jwt.PyJWKSetError, ValueError) as exc:
            raise RejectedTokenError(f"signing keys unavailable: {exc}") from exc
        self._keys = {k.key_id: k.key for k in key_set.keys if k.key_id}
        self._fetched_at = time.monotonic()


class TokenVerifier:
    """Verifies access tokens, remembering the last ``cache_size`` verified ones until they
    expire: a client sends the same token on every request for up to 15 minutes, and an
    Ed25519 check each time was a tenth of the gateway's CPU. (Revocation is checked on every
    request regardless, after this: shared.revocations.)"""

    def __init__(
        self,
        keys: KeyLookup,
        *,
        issuer: str,
        audience: str,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._issuer = issuer
        self._audience = audience
        self._cache_size = cache_size
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def use_keys(self, keys: KeyLookup) -> None:
        """Swaps the key source, e.g. for one that shares the process's HTTP client."""
        self._keys = keys

    async def verify(self, token: str) -> Principal:
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires_at = remembered
            if self._clock() < expires_at:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        principal, expires_at = await self._verify(token)
        self._verified[token] = (principal, expires_at)
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise RejectedTokenError("malformed token") from exc
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise RejectedTokenError("token is not signed with the expected algorithm")
        key = await self._keys(header["kid"])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise RejectedTokenError("token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise RejectedTokenError(f"invalid token: {exc}") from exc
        if claims.get("typ") != "access" or not isinstance(claims.get("tv"), int):
            raise RejectedTokenError("not an access token")
        principal = Principal(
            user_id=str(claims["sub"]),
            token_version=claims["tv"],
            session_id=claims.get("sid"),
            token=token,
        )
        return principal, float(claims["exp"])


# tokenUrl is the gateway's path: that is where Swagger's Authorize button posts.
bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def unauthorized(detail: str) -> UnauthenticatedError:
    return UnauthenticatedError(detail)


NOT_AUTHENTICATED = "Not authenticated: send 'Authorization: Bearer <access token>'"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, as FastAPI's scheme reads it."""
    scheme, param = get_authorization_scheme_param(authorization)
    return param if scheme.lower() == "bearer" else None


async def authenticate(
    token: str | None, verifier: TokenVerifier, revocations: Revocations | None
) -> Principal:
    """The caller a bearer token names, or UnauthenticatedError: one rule for the gateway, every
    service's ``CurrentUser`` and the routes served outside FastAPI's router (a live stream)."""
    if not token:
        raise unauthorized(NOT_AUTHENTICATED)
    try:
        principal = await verifier.verify(token)
    except RejectedTokenError as exc:
        raise unauthorized(str(exc)) from exc
    # What the gateway refuses, every service refuses (shared.revocations): reaching a service
    # directly is no way around a password change or a deleted account.
    refusal = (
        revocations.refusal(principal.user_id, principal.token_version) if revocations else None
    )
    if refusal is not None:
        raise unauthorized(refusal)
    return principal


async def authenticate_in(state: State, token: str | None) -> Principal:
    """``authenticate`` with what a service's app state holds: its verifier, and its revocations
    where it keeps them (user_service reads the account itself). For ``CurrentUser`` and for a
    route served outside the router."""
    return await authenticate(token, state.token_verifier, getattr(state, "revocations", None))


async def current_principal(
    request: Request, token: Annotated[str | None, Depends(bearer_scheme)]
) -> Principal:
    return await authenticate_in(request.app.state, token)


CurrentUser = Annotated[Principal, Depends(current_principal)]
