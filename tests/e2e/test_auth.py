"""Accounts and sessions, through the gateway."""

from __future__ import annotations

import httpx

from tests.support import eventually, register_and_login, unique_email


async def test_register_login_and_read_profile(client: httpx.AsyncClient) -> None:
    email = unique_email()
    registered = await client.post(
        "/api/auth/register",
        json={
            "email": email.upper(),
            "password": "correct horse",
            "name": "Ann",
            "currency": "eur",
            "timezone": "Europe/Paris",
        },
    )
    assert registered.status_code == 201, registered.text
    assert registered.headers["location"] == "/api/users/me"
    user = registered.json()
    assert user["email"] == email
    assert (user["currency"], user["timezone"], user["name"]) == ("EUR", "Europe/Paris", "Ann")
    assert "password" not in registered.text
    assert "hash" not in registered.text

    login = await client.post("/api/auth/login", json={"email": email, "password": "correct horse"})
    assert login.status_code == 200
    tokens = login.json()
    assert tokens["token_type"] == "bearer"
    assert 0 < tokens["expires_in"] <= 15 * 60

    me = await client.get(
        "/api/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json() == user


async def test_duplicate_email_is_a_conflict_whatever_its_case(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    again = await client.post(
        "/api/auth/register", json={"email": account.email.upper(), "password": "another pw"}
    )
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: httpx.AsyncClient,
) -> None:
    account = await register_and_login(client)
    wrong = await client.post(
        "/api/auth/login", json={"email": account.email, "password": "not it at all"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"email": unique_email(), "password": "not it at all"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_oauth2_password_form_gives_tokens(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    response = await client.post(
        "/api/auth/token", data={"username": account.email, "password": account.password}
    )
    assert response.status_code == 200
    me = await client.get(
        "/api/users/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    assert me.json()["email"] == account.email


async def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    first = account.tokens["refresh_token"]

    rotated = await client.post("/api/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    me = await client.get(
        "/api/users/me", headers={"Authorization": f"Bearer {rotated.json()['access_token']}"}
    )
    assert me.status_code == 200

    reused = await client.post("/api/auth/refresh", json={"refresh_token": first})
    assert reused.status_code == 401
    # The theft signal ends the whole session: the newest token of the family is dead too.
    after = await client.post("/api/auth/refresh", json={"refresh_token": second})
    assert after.status_code == 401

    # Another session of the same account is untouched.
    other = await client.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    refreshed = await client.post(
        "/api/auth/refresh", json={"refresh_token": other.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200


async def test_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    out = await client.post(
        "/api/auth/logout",
        headers=account.headers,
        json={"refresh_token": account.tokens["refresh_token"]},
    )
    assert out.status_code == 204
    refresh = await client.post(
        "/api/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]}
    )
    assert refresh.status_code == 401


async def test_logout_requires_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/logout", json={})
    assert response.status_code == 401


async def test_password_change_refuses_older_tokens_at_once(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    second_session = await client.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    old_headers = {"Authorization": f"Bearer {second_session.json()['access_token']}"}

    wrong = await client.post(
        "/api/users/me/password",
        headers=account.headers,
        json={"current_password": "not it", "new_password": "new secret 1"},
    )
    assert wrong.status_code == 400
    changed = await client.post(
        "/api/users/me/password",
        headers=account.headers,
        json={"current_password": account.password, "new_password": "new secret 1"},
    )
    assert changed.status_code == 200
    new_headers = {"Authorization": f"Bearer {changed.json()['access_token']}"}

    # At once, on the very next request: both earlier access tokens are refused.
    assert (await client.get("/api/users/me", headers=old_headers)).status_code == 401
    assert (await client.get("/api/users/me", headers=account.headers)).status_code == 401
    assert (await client.get("/api/users/me", headers=new_headers)).status_code == 200
    # Refresh tokens of earlier sessions are gone too, and the old password no longer works.
    refresh = await client.post(
        "/api/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]}
    )
    assert refresh.status_code == 401
    old_login = await client.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert old_login.status_code == 401

    # The gateway learns of it from user.tokens_revoked and refuses on every other service.
    async def gateway_refuses() -> bool:
        response = await client.get("/api/expenses", headers=old_headers)
        return response.status_code == 401 and "revoked" in response.json()["detail"]

    assert await eventually(gateway_refuses, timeout=3)
    assert (await client.get("/api/expenses", headers=new_headers)).status_code != 401


async def test_profile_update_and_account_deletion(client: httpx.AsyncClient) -> None:
    account = await register_and_login(client)
    patched = await client.patch(
        "/api/users/me", headers=account.headers, json={"name": "Bea", "currency": "gbp"}
    )
    assert patched.status_code == 200
    assert (patched.json()["name"], patched.json()["currency"]) == ("Bea", "GBP")
    null_currency = await client.patch(
        "/api/users/me", headers=account.headers, json={"currency": None}
    )
    assert null_currency.status_code == 422

    deleted = await client.delete("/api/users/me", headers=account.headers)
    assert deleted.status_code == 204
    login = await client.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert login.status_code == 401
    # The address is free again.
    again = await client.post(
        "/api/auth/register", json={"email": account.email, "password": "fresh start 1"}
    )
    assert again.status_code == 201
