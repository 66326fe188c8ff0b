"""The gateway's operational surface: health, readiness, merged docs, metrics."""

from __future__ import annotations

import statistics
import time

import httpx

from tests.support import READINESS_CHECKS, register_and_login, unique_email


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == READINESS_CHECKS


async def test_merged_openapi_and_swagger_ui(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    for path in (
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/token",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/users/me",
        "/api/users/me/password",
    ):
        assert path in paths, path
    assert "/health" not in paths
    scheme = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/auth/token"
    assert "RegisterRequest" in document["components"]["schemas"]

    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert "/openapi.json" in docs.text


async def test_metrics_count_proxied_requests(client: httpx.AsyncClient) -> None:
    def upstream_count(text: str) -> float:
        prefix = 'gateway_upstream_seconds_count{service="user_service",status="201"}'
        lines = [line for line in text.splitlines() if line.startswith(prefix)]
        return float(lines[0].split()[-1]) if lines else 0.0

    before = upstream_count((await client.get("/metrics")).text)
    await register_and_login(client)
    metrics = await client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert upstream_count(metrics.text) == before + 1
    assert "http_request_duration_seconds_bucket" in metrics.text


async def test_request_id_is_echoed_and_adopted(client: httpx.AsyncClient) -> None:
    own = await client.get("/health", headers={"X-Request-ID": "trace-abc-123"})
    assert own.headers["x-request-id"] == "trace-abc-123"
    made = await client.get("/health", headers={"X-Request-ID": "bad id\\n<script>"})
    assert made.headers["x-request-id"] != "bad id\\n<script>"
    assert len(made.headers["x-request-id"]) == 32


async def test_unknown_email_takes_about_as_long_as_a_wrong_password(
    client: httpx.AsyncClient,
) -> None:
    account = await register_and_login(client)

    async def login_seconds(email: str) -> float:
        started = time.perf_counter()
        response = await client.post(
            "/api/auth/login", json={"email": email, "password": "wrong password"}
        )
        assert response.status_code == 401
        return time.perf_counter() - started

    known = statistics.median([await login_seconds(account.email) for _ in range(3)])
    unknown = statistics.median([await login_seconds(unique_email()) for _ in range(3)])
    # Both pay one bcrypt check (cost 12, ~0.2 s here); a skipped hash would be ~100x faster.
    assert unknown > known * 0.5
