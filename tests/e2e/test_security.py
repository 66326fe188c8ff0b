"""The gateway's guard: forged tokens, direct calls, bad input, rate limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import Stack
from tests.support import eventually, register_and_login, unique_email
from user_service.keys import GENERATED_KEY_NAME, load_signing_key
from user_service.settings import Settings as UserSettings


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(claims, default=str).encode())
    return f"{head}.{body}.{b64(signature)}"


async def requests_seen(service_url: str, route: str, status: str | None = None) -> float:
    """How many requests a service has handled on ``route``, from its own /metrics."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{service_url}/metrics")).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "http_request_duration_seconds_count" and (
                sample.labels.get("route") == route
                and (status is None or sample.labels.get("status") == status)
            ):
                total += sample.value
    return total


def forged_tokens(stack: Stack, real_token: str) -> dict[str, str]:
    """Every way of faking an access token the issue lists, built from a real one."""
    header = jwt.get_unverified_header(real_token)
    claims = jwt.decode(real_token, options={"verify_signature": False})
    key = load_signing_key(UserSettings(data_dir=stack.data_dir / "user_service"))
    assert (stack.data_dir / "user_service" / GENERATED_KEY_NAME).exists()

    def signed(**changes: Any) -> str:
        return jwt.encode(
            {**claims, **changes}, key.private_key, algorithm="EdDSA", headers={"kid": key.kid}
        )

    public_pem = key.public_key.public_bytes_raw()
    hs_header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    hs_input = f"{b64(json.dumps(hs_header).encode())}.{b64(json.dumps(claims).encode())}"
    hs_signature = hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest()
    head, _, signature = real_token.split(".")
    tampered_claims = {**claims, "sub": "someone-else"}
    past = datetime.now(UTC) - timedelta(hours=1)
    return {
        "garbage": "not.a.token",
        "alg none": unsigned({"alg": "none", "typ": "JWT", "kid": header["kid"]}, claims),
        "HS256 with the public key as secret": f"{hs_input}.{b64(hs_signature)}",
        "expired": signed(exp=int(past.timestamp()), iat=int(past.timestamp()) - 60),
        "wrong iss": signed(iss="someone-else"),
        "wrong aud": signed(aud="another-api"),
        "no exp": jwt.encode(
            {k: v for k, v in claims.items() if k != "exp"},
            key.private_key,
            algorithm="EdDSA",
            headers={"kid": key.kid},
        ),
        "tampered payload": f"{head}.{b64(json.dumps(tampered_claims).encode())}.{signature}",
        "refresh token as access token": "x" * 43,
    }


async def test_forged_tokens_are_refused_before_reaching_any_service(
    client: httpx.AsyncClient,
    stack: Stack,
) -> None:
    account = await register_and_login(client)
    user_service = stack.service_url("user_service")
    before = await requests_seen(user_service, "/api/users/me")

    no_token = await client.get("/api/users/me")
    assert no_token.status_code == 401
    for name, token in forged_tokens(stack, account.tokens["access_token"]).items():
        response = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["detail"], name
        assert response.headers["www-authenticate"] == "Bearer", name

    assert await requests_seen(user_service, "/api/users/me") == before
    # ...while the real token still goes through (and is counted), so the count can move.
    assert (await client.get("/api/users/me", headers=account.headers)).status_code == 200
    assert await requests_seen(user_service, "/api/users/me") == before + 1


async def test_token_of_a_deleted_account_is_refused_at_the_gateway(
    client: httpx.AsyncClient,
    stack: Stack,
) -> None:
    account = await register_and_login(client)
    second = await client.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    other_headers = {"Authorization": f"Bearer {second.json()['access_token']}"}
    assert (await client.delete("/api/users/me", headers=account.headers)).status_code == 204

    expense_service = stack.service_url("expense_service")

    async def gateway_refuses() -> bool:
        response = await client.get("/api/expenses", headers=other_headers)
        return response.status_code == 401

    assert await eventually(gateway_refuses, timeout=3)
    before = await requests_seen(expense_service, "unmatched")
    response = await client.get("/api/expenses", headers=other_headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "account no longer exists"
    assert await requests_seen(expense_service, "unmatched") == before


async def test_a_service_called_directly_ignores_identity_headers(
    client: httpx.AsyncClient,
    stack: Stack,
) -> None:
    account = await register_and_login(client)
    async with httpx.AsyncClient(base_url=stack.service_url("user_service")) as direct:
        forged = await direct.get(
            "/api/users/me",
            headers={
                "X-User-Id": account.user["id"],
                "X-Forwarded-User": account.user["id"],
                "X-Authenticated-User": account.user["id"],
            },
        )
        assert forged.status_code == 401
        # The service verifies tokens itself: a real one works, a forged one does not.
        assert (await direct.get("/api/users/me", headers=account.headers)).status_code == 200
        bad = await direct.get("/api/users/me", headers={"Authorization": "Bearer not.a.token"})
        assert bad.status_code == 401


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"email": "a@example.com", "password": ', "application/json", "JSON decode error"),
        (b'{"email": 12, "password": ["x"]}', "application/json", "valid string"),
        (b'{"email": {"$gt": ""}, "password": "whatever1"}', "application/json", "valid string"),
        (
            b'{"email": "a@example.com", "password": {"$ne": null}}',
            "application/json",
            "valid string",
        ),
        (b"[]", "application/json", "valid dictionary"),
        (b"email=a", "text/plain", "valid dictionary"),
    ],
)
async def test_malformed_bodies_get_422_with_detail(
    client: httpx.AsyncClient, body: bytes, content_type: str, expected: str
) -> None:
    response = await client.post(
        "/api/auth/login", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 422
    assert expected in json.dumps(response.json()["detail"])


async def test_oversized_body_is_413_and_nothing_is_stored(
    client: httpx.AsyncClient,
    stack: Stack,
) -> None:
    user_service = stack.service_url("user_service")
    before = await requests_seen(user_service, "/api/auth/register")
    email = unique_email()
    big = json.dumps({"email": email, "password": "x" * (2 * 1024 * 1024)})
    declared = await client.post(
        "/api/auth/register", content=big, headers={"Content-Type": "application/json"}
    )
    assert declared.status_code == 413
    assert "larger than" in declared.json()["detail"]
    # A declared Content-Length over the limit is refused before any upstream request.
    assert await requests_seen(user_service, "/api/auth/register") == before

    async def chunks() -> Any:  # no Content-Length: the gateway counts as it streams
        yield json.dumps({"email": email, "password": "x"}).encode()[:-2]
        for _ in range(32):
            yield b"x" * 65536

    created_before = await requests_seen(user_service, "/api/auth/register", "201")
    streamed = await client.post(
        "/api/auth/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    # The upstream saw the body begin, then the gateway cut it off: it never got a whole one.
    assert await requests_seen(user_service, "/api/auth/register", "201") == created_before
    retry = await client.post(
        "/api/auth/register", json={"email": email, "password": "fine password"}
    )
    assert retry.status_code == 201


async def test_password_over_72_bytes_is_refused_and_nothing_stored(
    client: httpx.AsyncClient,
) -> None:
    email = unique_email()
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": "é" * 36 + "x"}
    )
    assert response.status_code == 422
    assert "72 bytes" in json.dumps(response.json()["detail"])
    # Nothing was half-written: the address is still free.
    retry = await client.post("/api/auth/register", json={"email": email, "password": "é" * 36})
    assert retry.status_code == 201


async def test_failed_logins_are_limited_per_account(client: httpx.AsyncClient) -> None:
    victim = await register_and_login(client)
    other = await register_and_login(client)
    statuses = []
    for _ in range(20):
        response = await client.post(
            "/api/auth/login", json={"email": victim.email, "password": "guess guess"}
        )
        statuses.append(response.status_code)
    assert 429 in statuses
    assert statuses[:10] == [401] * 10
    limited = await client.post(
        "/api/auth/login", json={"email": victim.email.upper(), "password": victim.password}
    )
    assert limited.status_code == 429  # even the right password, until the window ends
    assert int(limited.headers["retry-after"]) >= 1
    # The same form through /token is the same account.
    form = await client.post(
        "/api/auth/token", data={"username": victim.email, "password": victim.password}
    )
    assert form.status_code == 429

    fine = await client.post(
        "/api/auth/login", json={"email": other.email, "password": other.password}
    )
    assert fine.status_code == 200


async def test_auth_requests_are_limited_per_address(client: httpx.AsyncClient) -> None:
    statuses = []
    for _ in range(35):  # the stack's default: 30 a minute per address
        response = await client.post("/api/auth/login", json={})
        statuses.append(response.status_code)
    assert statuses[:25] == [422] * 25
    assert statuses[-1] == 429
    last = await client.post("/api/auth/register", json={})
    assert last.status_code == 429
    assert 1 <= int(last.headers["retry-after"]) <= 60


async def test_the_gateway_counts_api_requests_by_one_template_and_refuses_other_methods(
    client: httpx.AsyncClient,
    stack: Stack,
) -> None:
    """/api/* skips the gateway's router (gateway.routes.ProxyLane): its metrics still label
    every proxied request with the one template, and a method it does not proxy is a 405."""
    account = await register_and_login(client)
    before = await requests_seen(stack.gateway_url, "/api/{path:path}", "200")
    assert (await client.get("/api/users/me", headers=account.headers)).status_code == 200
    assert await requests_seen(stack.gateway_url, "/api/{path:path}", "200") == before + 1
    refused = await client.request("TRACE", "/api/users/me", headers=account.headers)
    assert refused.status_code == 405
    assert refused.headers["content-type"] == "application/problem+json"
    assert "GET" in refused.headers["allow"].split(", ")
    assert await requests_seen(stack.gateway_url, "/api/{path:path}", "405") >= 1
