"""How every service process is run: uvicorn with limits on what a client may send, and how slowly.

    python -m shared.server gateway --host 127.0.0.1 --port 8000

Plain uvicorn (httptools) accepts a request head of any size and waits forever for a client that
sends half a head or half a body, so a few hundred slow connections hold a process's sockets and
memory. The protocol below refuses, with a problem response and a closed connection:

- a request line longer than ``HTTP_MAX_URL_BYTES``: 414;
- more than ``HTTP_MAX_HEADERS`` header fields or more than ``HTTP_MAX_HEADER_BYTES`` of them: 431;
- a head not complete ``HTTP_HEADER_TIMEOUT`` seconds after its first byte (or after connecting):
  408;
- a body that pauses longer than ``HTTP_BODY_IDLE_TIMEOUT`` or is not complete within
  ``HTTP_BODY_TIMEOUT``: 408 (or, if the answer has begun, the connection is closed).

Idle keep-alive connections close after ``HTTP_KEEPALIVE_TIMEOUT``; beyond
``HTTP_MAX_CONNECTIONS`` open connections, new requests get 503. Every service runs this way, not
only the gateway: a service reached directly is no easier to tie up.

On SIGTERM uvicorn waits up to 5 s for open responses to finish; a response that would stay
open (a live stream) ends at once if its app registered with ``streaming.when_stopping``.

Once started, what the process made at start is frozen out of the garbage collector's sight
(``gc.freeze``): a full collection then walks only what came later; and young collections come
every 10,000 new objects, not 700.

A response's head is written with its body, in one ``send`` (``HeldHeadTransport``), where
uvicorn alone makes two.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import socket
from collections.abc import Callable
from http import HTTPStatus
from types import FrameType
from typing import Any, ClassVar, cast

import uvicorn
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared import streaming

log = logging.getLogger(__name__)


class HttpLimits(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HTTP_", extra="ignore", frozen=True)

    max_url_bytes: int = Field(default=8 * 1024, ge=256)
    max_headers: int = Field(default=100, ge=8)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    header_timeout: float = Field(default=10.0, gt=0)
    body_idle_timeout: float = Field(default=15.0, gt=0)
    body_timeout: float = Field(default=120.0, gt=0)
    keepalive_timeout: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=4096, ge=1)


# A body up to this size is joined to its head (one copy); a larger one follows it in a send
# of its own rather than be copied.
JOINED_BODY_BYTES = 64 * 1024


class HeldHeadTransport:
    """What a response is written through: the first write of each response (its head) waits
    for the next (its body), or for the loop's next turn, so a small answer leaves in one
    ``send`` and one TCP segment instead of two.

    uvicorn writes the head as the app starts its response and the body as it sends it: two
    system calls, and (sockets here are TCP_NODELAY) two segments for the client to read. For
    the few hundred bytes of a typical answer, one of three sends per proxied request in the
    gateway and one of three in a service (strace). Order is kept: whatever is held goes out
    before anything written after it, and before a close. A streamed response's head waits
    one turn of the loop at most. Not held: the head of a response queued behind another
    (pipelined) or sent after a "100 Continue"."""

    __slots__ = ("_flush_soon", "_held", "_holding_next", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._holding_next = False
        self._flush_soon: asyncio.Handle | None = None

    def hold_next_write(self) -> None:
        """A new response begins: hold its first write."""
        self._holding_next = True

    def write(self, data: bytes) -> None:
        if self._held is not None:
            if len(data) <= JOINED_BODY_BYTES:
                data = self._held + data
                self._held = None
                self._cancel_flush()
            else:
                self.flush()  # a large body is not copied to join its head: two sends
        elif self._holding_next:
            self._holding_next = False
            self._held = data
            self._flush_soon = self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        self._holding_next = False
        self._cancel_flush()
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():  # closed meanwhile (a timeout): nothing to say
                self._transport.write(held)

    def _cancel_flush(self) -> None:
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self.flush()
        self._transport.close()


class _RefusedError(Exception):
    """Raised from a parser callback to stop parsing a request that breaks a limit."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str] | None = None
        self._url_bytes = 0
        self._header_count = 0
        self._header_bytes = 0
        self._body_deadline = 0.0
        # Run when the client's connection is lost: a streamed response waits for its client
        # to go here rather than in a task of its own (shared.streaming.ON_DISCONNECT).
        self._on_disconnect: list[Callable[[], None]] = []
        self._held_head: HeldHeadTransport | None = None

    # -- limits on the head -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._held_head = HeldHeadTransport(transport, self.loop)
        self._arm(self.limits.header_timeout, "the request head did not arrive in time")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._refusal = None
        self._url_bytes = self._header_count = self._header_bytes = 0
        if self._timer is None:
            self._arm(self.limits.header_timeout, "the request head did not arrive in time")

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_url_bytes:
            self._refuse(
                414, f"the request target is longer than {self.limits.max_url_bytes} bytes"
            )
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + 4
        if self._header_count > self.limits.max_headers:
            self._refuse(431, f"more than {self.limits.max_headers} header fields")
        if self._header_bytes > self.limits.max_header_bytes:
            self._refuse(431, f"header fields larger than {self.limits.max_header_bytes} bytes")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        expects_body = self._expects_body()
        if not expects_body:
            # With a body, the response's listener must read it (or the flow control that
            # pauses reading on a full buffer is never released, and the client's leaving is
            # never seen): only a request without one is told instead.
            extensions = cast(dict[str, Any], self.scope.setdefault("extensions", {}))
            extensions[streaming.ON_DISCONNECT] = self._on_disconnect
        previous = self.cycle
        super().on_headers_complete()
        if self._held_head is not None and self.cycle is not previous:  # a new cycle (no upgrade)
            self.cycle.transport = self._held_head  # type: ignore[assignment]
            # Only a response that starts now: one queued behind another (pipelined) must not
            # hold that one's next write; and a "100 Continue" would be held, not the head.
            starts_now = previous is None or previous.response_complete
            if starts_now and not self.expect_100_continue:
                self._held_head.hold_next_write()
        if expects_body:
            self._body_deadline = self.loop.time() + self.limits.body_timeout
            self._arm_body()

    # -- limits on the body -----------------------------------------------------------------

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if self._timer is not None:
            self._arm_body()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def shutdown(self) -> None:
        # uvicorn closes the transport itself if the response is complete: a HEAD response's
        # head (it has no body to go with) may still be held.
        if self._held_head is not None:
            self._held_head.flush()
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
        for client_gone in list(self._on_disconnect):
            try:
                client_gone()
            except Exception:
                log.exception("a callback for a lost connection failed")

    def _expects_body(self) -> bool:
        for name, value in self.headers:
            if name == b"transfer-encoding":
                return True
            if name == b"content-length":
                return value.strip() not in {b"", b"0"}
        return False

    def _arm_body(self) -> None:
        remaining = self._body_deadline - self.loop.time()
        self._arm(
            max(0.0, min(self.limits.body_idle_timeout, remaining)),
            "the request body did not arrive in time",
        )

    # -- refusing -----------------------------------------------------------------------------

    def _refuse(self, status: int, detail: str) -> None:
        self._refusal = (status, detail)
        raise _RefusedError(detail)

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error with this; ours carry their own status.
        if self._held_head is not None:
            self._held_head.flush()  # an answer begun goes first: then the connection ends
        if self._refusal is None:
            super().send_400_response(msg)
            return
        self._send_problem(*self._refusal)

    def _arm(self, delay: float, detail: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, self._timed_out, detail)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self, detail: str) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self.flow is not None and self.flow.read_paused:
            # The app is not reading (backpressure), not the client being slow: wait on.
            self._arm(self.limits.body_idle_timeout, detail)
            return
        if self.cycle is None or not self.cycle.response_started:
            self._send_problem(408, detail)
        else:
            self.transport.close()

    def _send_problem(self, status: int, detail: str) -> None:
        phrase = HTTPStatus(status).phrase
        body = json.dumps(
            {"type": "about:blank", "title": phrase, "status": status, "detail": detail}
        ).encode()
        head = (
            f"HTTP/1.1 {status} {phrase}\r\n"
            "content-type: application/problem+json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        ).encode()
        self.transport.write(head + body)
        self.transport.close()


YOUNG_COLLECTION_THRESHOLD = 10_000  # Python's default: 700


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # Everything made so far (modules, the app, its clients) lives as long as the process:
        # out of the collector's sight, a full collection no longer walks it. Each used to
        # take about 50 ms, and under load user_service ran two a second: a tenth of its CPU,
        # and its p99 (bench: 64-89 ms before, 18-22 ms after, at 2,000-2,500 req/s). The
        # garbage of the start is collected first: frozen, it would never be.
        gc.collect()
        gc.freeze()
        # A young collection every 10,000 new objects instead of 700: a request's objects are
        # mostly freed by their counts before then, so fewer are walked and promoted for
        # nothing (wrk on /api/users/me: 5-9% more requests a second, directly and through
        # the gateway). Cyclic garbage waits a little longer; it is rare here.
        gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        streaming.server_stopping()


def protocol_with(limits: HttpLimits) -> type[GuardedHttpToolsProtocol]:
    return type("GuardedHttp", (GuardedHttpToolsProtocol,), {"limits": limits})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run one service of the Expense Tracker.")
    parser.add_argument("service", help="gateway, user_service, expense_service, ...")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    limits = HttpLimits()
    config = uvicorn.Config(
        f"{args.service}.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        http=protocol_with(limits),
        access_log=False,
        # uvicorn's own lines go through the root logger, which the app configures: JSON too.
        log_config=None,
        # Behind a TLS-terminating proxy, FORWARDED_ALLOW_IPS names it (uvicorn reads it): its
        # X-Forwarded-For and -Proto then give the client's address and scheme. Unset: ignored.
        proxy_headers=bool(os.environ.get("FORWARDED_ALLOW_IPS")),
        server_header=False,
        timeout_keep_alive=int(limits.keepalive_timeout),
        timeout_graceful_shutdown=5,
        limit_concurrency=limits.max_connections,
    )
    _Server(config).run()


if __name__ == "__main__":
    main()
