"""Password recovery through the gateway, with a real SMTP server: the same answer for any
address, a link by email, a reset that ends every session and earlier token, and links that
work once and expire."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from tests.e2e.conftest import E2E
from tests.e2e.problems import detail
from tests.support import Account, eventually, register_and_login, unique_email
from user_service.recovery import token_digest

FORGOT = "/api/auth/forgot-password"
RESET = "/api/auth/reset-password"
LINK = re.compile(r"https?://\S+/reset-password#token=([\w-]+)")


async def reset_link(e2e: E2E, account: Account, count: int = 1) -> str:
    """The token of the ``count``-th reset email to the account."""

    async def arrived() -> list[str]:
        tokens = []
        for message in e2e.smtp.to(account.email):
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = LINK.search(body.get_content())
            if found:
                tokens.append(found.group(1))
        return tokens if len(tokens) >= count else []

    tokens: list[str] = await eventually(arrived, timeout=10, what="the reset email")
    return tokens[count - 1]


async def test_any_address_gets_the_same_answer(client: httpx.AsyncClient, e2e: E2E) -> None:
    account = await register_and_login(client)
    known = await client.post(FORGOT, json={"email": account.email})
    unknown = await client.post(FORGOT, json={"email": unique_email("nobody")})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert await reset_link(e2e, account)


async def test_a_reset_ends_every_session_and_works_once(
    client: httpx.AsyncClient, e2e: E2E
) -> None:
    account = await register_and_login(client)
    assert (await client.post(FORGOT, json={"email": account.email.upper()})).status_code == 202
    token = await reset_link(e2e, account)

    short = await client.post(RESET, json={"token": token, "new_password": "short"})
    assert short.status_code == 422
    done = await client.post(RESET, json={"token": token, "new_password": "a brand new secret"})
    assert done.status_code == 204, done.text

    # Every earlier access token and session is over, as after a password change.
    me = await client.get("/api/users/me", headers=account.headers)
    assert me.status_code == 401
    refreshed = await client.post(
        "/api/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    old = await client.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert old.status_code == 401
    new = await client.post(
        "/api/auth/login", json={"email": account.email, "password": "a brand new secret"}
    )
    assert new.status_code == 200, new.text

    again = await client.post(RESET, json={"token": token, "new_password": "yet another one"})
    assert again.status_code == 400
    assert "already been used" in detail(again)
    unknown = await client.post(RESET, json={"token": "no-such-token", "new_password": "whatever1"})
    assert unknown.status_code == 400
    assert "not valid" in detail(unknown)


async def test_an_expired_link_is_refused(client: httpx.AsyncClient, e2e: E2E) -> None:
    account = await register_and_login(client)
    await client.post(FORGOT, json={"email": account.email})
    token = await reset_link(e2e, account)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(e2e.mongodb_url)
    try:
        stored = await mongo["users"].password_resets.find_one({"_id": token_digest(token)})
        assert stored is not None  # only the hash is stored, never the token
        assert token not in str(stored)
        await mongo["users"].password_resets.update_one(
            {"_id": token_digest(token)},
            {"$set": {"expires_at": datetime.now(UTC) - timedelta(minutes=1)}},
        )
    finally:
        await mongo.close()
    late = await client.post(RESET, json={"token": token, "new_password": "too late for this"})
    assert late.status_code == 400
    assert "expired" in detail(late)
    login = await client.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert login.status_code == 200  # the password did not change


async def test_requests_are_limited_per_address(client: httpx.AsyncClient) -> None:
    address = unique_email("flood")
    answers = [(await client.post(FORGOT, json={"email": address})).status_code for _ in range(6)]
    assert answers == [202] * 5 + [429]
    bad = await client.post(FORGOT, json={"email": "not an address"})
    assert bad.status_code == 422
