"""Forwarding one request to its service: path check, authentication, limits, streaming.

Bodies are streamed in both directions (CSV, Server-Sent Events), never buffered. Upstream
trouble becomes a problem response: 503 when no instance of the service can be reached, 504 when
it does not answer in time, 502 otherwise.

The gateway routes on the decoded path and forwards the raw path bytes it received, unchanged;
``routing.routable_path`` refuses every path the two readings could disagree on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable

from fastapi import Request, Response
from prometheus_client import Histogram
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect

from gateway.routing import PUBLIC_PATHS, AmbiguousPathError, RouteTable, routable_path, service_for
from gateway.settings import Settings
from gateway.upstream import (
    Body,
    RawHeaders,
    UpstreamClient,
    UpstreamConnectError,
    UpstreamError,
    UpstreamResponse,
    UpstreamStaleConnectionError,
    UpstreamTimeoutError,
)
from shared.auth import TokenVerifier, authenticate, bearer_token
from shared.errors import UnauthenticatedError
from shared.log import REQUEST_ID_HEADER, request_id_var
from shared.problems import domain_problem, problem
from shared.ratelimit import RateLimiter, RateLimitUnavailableError
from shared.revocations import Revocations
from shared.streaming import StreamingResponse, when_stopping

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
# The gateway's own server writes these on every response; the upstream's copies would repeat them.
NOT_RELAYED = HOP_BY_HOP | {"date", "server"}
LIVE = b"text/event-stream"


class BodyTooLargeError(Exception):
    pass


class Proxy:
    def __init__(
        self,
        settings: Settings,
        upstream: UpstreamClient,
        table: RouteTable,
        verifier: TokenVerifier,
        revocations: Revocations,
        limiter: RateLimiter,
    ) -> None:
        self._settings = settings
        self._upstream = upstream
        self._table = table
        self._verifier = verifier
        self._revocations = revocations
        self._limiter = limiter

    async def handle(self, request: Request) -> Response:
        """One rule for every ``/api`` path: a refused spelling is 400; then, except on the
        public auth paths, no valid token is 401 (whether or not the path exists, so the API's
        shape is not shown to strangers); then an unknown path is 404."""
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
        try:
            path = routable_path(raw_path)
        except AmbiguousPathError as exc:
            return problem(400, f"refused path: {exc}")
        limit = (
            self._settings.upload_max_body_bytes
            if path in self._settings.upload_paths
            else self._settings.max_body_bytes
        )
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return problem(413, f"request body larger than {limit} bytes")

        if path in PUBLIC_PATHS:
            refused = await self._limit_ip(request)
        else:
            refused = await self._authenticate(request)
        if refused is not None:
            return refused
        service = service_for(path)
        if service is None:
            return problem(404, f"no API route {path}")
        return await self._forward(request, service, raw_path, limit)

    async def _authenticate(self, request: Request) -> Response | None:
        token = bearer_token(request.headers.get("authorization"))
        try:
            await authenticate(token, self._verifier, self._revocations)
        except UnauthenticatedError as exc:
            return domain_problem(exc)
        return None

    async def _limit_ip(self, request: Request) -> Response | None:
        """Requests per client address on the public auth paths. (Failed logins per account
        are user_service's to count: it alone reads the body as the login does.)"""
        ip = request.client.host if request.client else "unknown"
        try:
            count, window = await self._limiter.hit(
                f"auth-ip:{ip}", self._settings.auth_ip_window_seconds
            )
        except RateLimitUnavailableError as exc:
            log.warning("%s", exc)
            return problem(503, "rate limiting is unavailable; retry shortly", headers=_RETRY)
        if count > self._settings.auth_ip_limit:
            return problem(
                429,
                "too many authentication requests from this address",
                headers={"Retry-After": window.retry_after},
            )
        return None

    async def _forward(
        self, request: Request, service: str, raw_path: bytes, limit: int
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
        declared = request.headers.get("content-length")
        body: Body = None
        streamed: BoundedBody | None = None
        if declared is not None and int(declared) <= SMALL_BODY_BYTES:
            # Small bodies (almost every API call) are read whole: no streaming wrapper, and
            # the client can be watched while the service works (see _send_unless_client_leaves).
            try:
                body = await _read_bounded(request, limit)
            except BodyTooLargeError:
                return problem(413, f"request body larger than {limit} bytes")
            except ClientDisconnect:
                return problem(499, "the client closed the request")
        elif declared is not None or "transfer-encoding" in request.headers:
            streamed = BoundedBody(request.stream(), limit)
            body = aiter(streamed)
        query: bytes = request.scope.get("query_string", b"")
        target = raw_path + (b"?" + query if query else b"")
        candidates = self._table.candidates(service)
        resent = False
        started = time.perf_counter()
        for base_url in candidates:
            send = self._upstream.send(request.method, base_url, target, headers, body)
            try:
                if isinstance(body, AsyncIterator):
                    upstream = await send
                else:
                    sent = await _send_unless_client_leaves(send, request)
                    if sent is None:
                        return problem(499, "the client closed the request")
                    upstream = sent
            except UpstreamConnectError as exc:
                log.warning("%s unreachable at %s: %s", service, base_url, exc)
                if isinstance(body, AsyncIterator):
                    break  # the body may be partly consumed; it cannot be sent again
                continue
            except UpstreamStaleConnectionError as exc:
                if streamed is not None and streamed.exceeded:
                    return problem(413, f"request body larger than {limit} bytes")
                # A pooled connection the service had just closed: safe to send again only
                # when the request is idempotent and its body is still in hand.
                if resent or request.method not in IDEMPOTENT or isinstance(body, AsyncIterator):
                    log.warning("%s failed: %s", service, exc)
                    return problem(502, f"{service} failed to answer: the connection closed")
                log.info("%s closed a pooled connection (%s); sending again", service, exc)
                resent = True
                candidates.append(base_url)  # the loop goes on to it
                continue
            except BodyTooLargeError:
                return problem(413, f"request body larger than {limit} bytes")
            except UpstreamTimeoutError:
                UPSTREAM_SECONDS.labels(service, "504").observe(time.perf_counter() - started)
                return problem(
                    504, f"{service} did not answer within {self._settings.upstream_timeout:g}s"
                )
            except UpstreamError as exc:
                if streamed is not None and streamed.exceeded:
                    return problem(413, f"request body larger than {limit} bytes")
                log.warning("%s failed: %s", service, exc)
                return problem(502, f"{service} failed to answer")
            UPSTREAM_SECONDS.labels(service, str(upstream.status)).observe(
                time.perf_counter() - started
            )
            return await _relayed(service, upstream)
        UPSTREAM_SECONDS.labels(service, "503").observe(time.perf_counter() - started)
        return problem(503, f"{service} is unavailable")


async def _relayed(service: str, upstream: UpstreamResponse) -> Response:
    relayed = [(k, v) for k, v in upstream.raw_headers if k.decode().lower() not in NOT_RELAYED]
    length = _header(relayed, b"content-length")
    response: Response
    if length is not None and length.isdigit() and int(length) <= SMALL_BODY_BYTES:
        # Most answers are a few hundred bytes: read and send them whole, without the cost of
        # a streaming response; CSV exports and live streams still stream.
        try:
            content = await upstream.read()
        except UpstreamError as exc:
            log.warning("%s failed mid-answer: %s", service, exc)
            return problem(502, f"{service} failed to answer")
        finally:
            await upstream.close()
        response = Response(content, status_code=upstream.status)
    else:
        # background: closes the upstream even if streaming never starts (the client left
        # just as the headers came); closing twice is harmless.
        live = (_header(relayed, b"content-type") or b"").startswith(LIVE)
        response = StreamingResponse(
            _relay(upstream, live=live),
            status_code=upstream.status,
            background=BackgroundTask(upstream.close),
        )
    response.raw_headers = relayed
    return response


async def _send_unless_client_leaves(
    send: Awaitable[UpstreamResponse], request: Request
) -> UpstreamResponse | None:
    """Sends the request upstream, but gives up (closing the upstream connection, so the
    service sees its client go and can drop the work, e.g. a queued password hash) if our own
    client disconnects first. Only for requests whose body has been read already."""
    sending = asyncio.ensure_future(send)
    leaving = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({sending, leaving}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        leaving.cancel()
        if not sending.done():
            sending.cancel()
        await asyncio.gather(sending, leaving, return_exceptions=True)
    if sending.cancelled():
        return None
    return sending.result()


async def _client_gone(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _header(headers: RawHeaders, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case)."""
    return next((v for k, v in headers if k.lower() == name), None)


async def _relay(upstream: UpstreamResponse, *, live: bool) -> AsyncIterator[bytes]:
    """The upstream's body, closing the upstream when it ends or the client goes (``finally``).

    A live stream (server-sent events, ``live``) never ends by itself: it ends, complete, as
    soon as this gateway is told to stop, as notification_service's own streams do. Otherwise
    every open browser tab held the shutdown for uvicorn's whole grace period, and then was cut
    mid-response; ended, the browser reconnects (to another replica) with ``Last-Event-ID``.
    Told to stop, it closes the upstream, which ends the read it waits in: no task of its own
    while open (a gateway holds one of these for every open tab)."""
    told = False

    def stop() -> None:
        nonlocal told
        told = True
        closing = asyncio.ensure_future(upstream.close())
        _closing.add(closing)
        closing.add_done_callback(_closing.discard)

    try:
        with when_stopping(stop) if live else contextlib.nullcontext():
            async for chunk in upstream.stream():
                yield chunk
    except Exception:
        if not told:
            raise  # the upstream failed; as told, it is our own close ending the read
    finally:
        await upstream.close()


_closing: set[asyncio.Future[None]] = set()  # upstreams being closed at shutdown, held till done


class BoundedBody:
    """A request body streamed upstream, cut off past ``limit`` bytes. It remembers that it was:
    an HTTP client may report the cut as its own transport error, not as ours."""

    def __init__(self, stream: AsyncIterator[bytes], limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self.exceeded = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        total = 0
        async for chunk in self._stream:
            total += len(chunk)
            if total > self._limit:
                self.exceeded = True
                raise BodyTooLargeError
            yield chunk


_RETRY = {"Retry-After": "1"}
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
SMALL_BODY_BYTES = 64 * 1024


async def _read_bounded(request: Request, limit: int) -> bytes:
    return b"".join([chunk async for chunk in BoundedBody(request.stream(), limit)])
