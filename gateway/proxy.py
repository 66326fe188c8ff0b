"""Forwarding one request to its service: authentication, limits, streaming both ways.

Bodies are streamed in both directions (CSV, Server-Sent Events), never buffered, except the small
login bodies the per-account limiter has to read. Upstream trouble becomes JSON: 503 when no
instance of the service can be reached, 504 when it does not answer in time, 502 otherwise.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx
from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from prometheus_client import Histogram

from gateway.routing import LOGIN_PATHS, PUBLIC_PATHS, RouteTable, service_for
from gateway.settings import Settings
from gateway.storage import RateLimiter, Revocations
from shared.auth import RejectedTokenError, TokenVerifier
from shared.log import REQUEST_ID_HEADER, request_id_var

log = logging.getLogger(__name__)

UPSTREAM_SECONDS = Histogram(
    "gateway_upstream_seconds",
    "Time to the upstream's response headers, by service and status",
    ["service", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        # The gateway sets these itself; a client's own would be trusted by nobody.
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        REQUEST_ID_HEADER,
    }
)


class BodyTooLargeError(Exception):
    pass


def problem(status_code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


def unauthorized(detail: str) -> JSONResponse:
    return problem(401, detail, {"WWW-Authenticate": "Bearer"})


class Proxy:
    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        table: RouteTable,
        verifier: TokenVerifier,
        revocations: Revocations,
        limiter: RateLimiter,
    ) -> None:
        self._settings = settings
        self._http = http
        self._table = table
        self._verifier = verifier
        self._revocations = revocations
        self._limiter = limiter

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        service = service_for(path)
        if service is None:
            return problem(404, f"no API route {path}")
        limit = (
            self._settings.upload_max_body_bytes
            if path in self._settings.upload_paths
            else self._settings.max_body_bytes
        )
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return problem(413, f"request body larger than {limit} bytes")

        body: bytes | None = None
        account: str | None = None
        if path in PUBLIC_PATHS:
            refused = await self._limit_ip(request)
            if refused is not None:
                return refused
            if path in LOGIN_PATHS:
                try:
                    body = await _read_bounded(request, limit)
                except BodyTooLargeError:
                    return problem(413, f"request body larger than {limit} bytes")
                account = _account_of(body, request.headers.get("content-type", ""))
                if account is not None:
                    refused = await self._limit_account(account)
                    if refused is not None:
                        return refused
        else:
            refused = await self._authenticate(request)
            if refused is not None:
                return refused

        response = await self._forward(request, service, limit, body)
        if account is not None and response.status_code == 401:
            await self._limiter.hit(
                f"login-failures:{account}", self._settings.login_failure_window_seconds
            )
        return response

    async def _authenticate(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return unauthorized("Not authenticated: send 'Authorization: Bearer <access token>'")
        try:
            principal = await self._verifier.verify(token.strip())
        except RejectedTokenError as exc:
            return unauthorized(str(exc))
        refusal = await self._revocations.refusal(principal.user_id, principal.token_version)
        return unauthorized(refusal) if refusal else None

    async def _limit_ip(self, request: Request) -> Response | None:
        ip = request.client.host if request.client else "unknown"
        count, retry_after = await self._limiter.hit(
            f"auth-ip:{ip}", self._settings.auth_ip_window_seconds
        )
        if count > self._settings.auth_ip_limit:
            return _too_many("too many authentication requests from this address", retry_after)
        return None

    async def _limit_account(self, account: str) -> Response | None:
        failures, retry_after = await self._limiter.count(
            f"login-failures:{account}", self._settings.login_failure_window_seconds
        )
        if failures >= self._settings.login_failure_limit:
            return _too_many("too many failed logins for this account", retry_after)
        return None

    async def _forward(
        self, request: Request, service: str, limit: int, body: bytes | None
    ) -> Response:
        headers = [(k, v) for k, v in request.headers.raw if k.decode().lower() not in HOP_BY_HOP]
        client_ip = request.client.host if request.client else ""
        headers += [
            (b"x-forwarded-for", client_ip.encode()),
            (b"x-forwarded-proto", request.url.scheme.encode()),
            (REQUEST_ID_HEADER.encode(), (request_id_var.get() or "").encode()),
        ]
        if request.headers.get("host"):
            headers.append((b"x-forwarded-host", request.headers["host"].encode()))
        has_body = (
            body is not None
            or "content-length" in request.headers
            or ("transfer-encoding" in request.headers)
        )
        content = (
            body if body is not None else (_bounded(request.stream(), limit) if has_body else None)
        )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        candidates = self._table.candidates(service)
        started = time.perf_counter()
        for base_url in candidates:
            upstream_request = self._http.build_request(
                request.method, base_url + target, headers=headers, content=content
            )
            try:
                upstream = await self._http.send(upstream_request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                log.warning("%s unreachable at %s: %r", service, base_url, exc)
                if isinstance(content, AsyncIterator):
                    break  # the body may be partly consumed; it cannot be sent again
                continue
            except BodyTooLargeError:
                return problem(413, f"request body larger than {limit} bytes")
            except httpx.TimeoutException:
                UPSTREAM_SECONDS.labels(service, "504").observe(time.perf_counter() - started)
                return problem(
                    504, f"{service} did not answer within {self._settings.upstream_timeout:g}s"
                )
            except httpx.TransportError as exc:
                log.warning("%s failed: %r", service, exc)
                return problem(502, f"{service} failed to answer: {type(exc).__name__}")
            UPSTREAM_SECONDS.labels(service, str(upstream.status_code)).observe(
                time.perf_counter() - started
            )
            response = StreamingResponse(_relay(upstream), status_code=upstream.status_code)
            response.raw_headers = [
                (k, v) for k, v in upstream.headers.raw if k.decode().lower() not in HOP_BY_HOP
            ]
            return response
        UPSTREAM_SECONDS.labels(service, "503").observe(time.perf_counter() - started)
        return problem(503, f"{service} is unavailable")


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    # finally: the client went away (or the body ended): release the upstream connection.
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    finally:
        await upstream.aclose()


async def _bounded(stream: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise BodyTooLargeError
        yield chunk


async def _read_bounded(request: Request, limit: int) -> bytes:
    return b"".join([chunk async for chunk in _bounded(request.stream(), limit)])


def _account_of(body: bytes, content_type: str) -> str | None:
    """The email a login names (JSON ``email`` or form ``username``), for per-account limits."""
    value: object = None
    try:
        if content_type.startswith("application/json"):
            parsed = json.loads(body)
            value = parsed.get("email") if isinstance(parsed, dict) else None
        elif content_type.startswith("application/x-www-form-urlencoded"):
            value = next(iter(parse_qs(body.decode()).get("username", [])), None)
    except (ValueError, UnicodeDecodeError):
        return None
    return value.strip().lower()[:254] if isinstance(value, str) and value.strip() else None


def _too_many(detail: str, retry_after: float) -> JSONResponse:
    return problem(429, detail, {"Retry-After": str(max(1, int(retry_after + 0.999)))})
