"""A streamed response that costs no extra task while it is open, not an anyio task group.

Starlette's ``StreamingResponse`` (under uvicorn, which speaks ASGI 2.3) runs each response in an
anyio task group of two tasks, one streaming and one listening for the client to leave, with
their cancel scopes. For a CSV export that is nothing; for a live stream held open by every
browser tab, and relayed by the gateway, it was most of the 40-50 KiB each open stream cost
(tracemalloc, 1,000 streams). This one streams in the request's own task, and is cancelled when
the client goes: under shared.server by the server itself (``ON_DISCONNECT``), under another
server by one plain asyncio task listening for ``http.disconnect``. The body iterator sees a
``CancelledError`` where it waits, and its ``finally`` blocks run as before.

A stream that would stay open ends when the server is told to stop (``when_stopping``), rather
than holding the shutdown until uvicorn's grace period runs out and cuts it mid-response.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from starlette.responses import StreamingResponse as StarletteStreamingResponse
from starlette.types import Receive, Scope, Send

ON_DISCONNECT = "shared.on_disconnect"
"""A scope extension from shared.server: a list of callbacks it runs when the client's
connection is lost. A streamed response registers one while it streams, instead of keeping a
task waiting in ``receive`` for ``http.disconnect``; under another server it keeps that task."""


class StreamingResponse(StarletteStreamingResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        spec = tuple(int(n) for n in scope.get("asgi", {}).get("spec_version", "2.0").split("."))
        if scope["type"] != "http" or spec >= (2, 4):
            # ASGI 2.4 servers raise on sending to a gone client: nothing to listen for.
            await super().__call__(scope, receive, send)
            return
        streaming = asyncio.current_task()
        assert streaming is not None
        client_gone = finished = False

        def leave() -> None:
            nonlocal client_gone
            if not finished:
                client_gone = True
                streaming.cancel()

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            leave()

        told: list[Callable[[], None]] | None = scope.get("extensions", {}).get(ON_DISCONNECT)
        listener = None
        if told is not None:
            told.append(leave)
        else:
            listener = asyncio.ensure_future(listen())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            # Only the cancel for a client leaving is swallowed: one from elsewhere (shutdown),
            # even one that came as the client left, leaves a cancel request behind and goes on.
            if not client_gone or streaming.uncancel() > 0:
                raise
        finally:
            finished = True
            if listener is not None:
                listener.cancel()
            if told is not None:
                told.remove(leave)
            # Closes the body iterator now, not when it is collected: its finally blocks
            # (closing an upstream response, leaving the live streams) run before we return.
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()
        if self.background is not None:
            await self.background()


_stopping: dict[object, tuple[asyncio.AbstractEventLoop, Callable[[], None]]] = {}
_stopped = False


@contextlib.contextmanager
def when_stopping(callback: Callable[[], None]) -> Iterator[None]:
    """While inside, ``callback`` runs on this event loop as soon as the server is told to stop
    (``shared.server`` calls ``server_stopping``), before uvicorn waits for open responses. A
    stream that begins after that (its upstream answered late, or its client came in the moment
    before the server stopped accepting) is told at once."""
    loop = asyncio.get_running_loop()
    key = object()  # the same callable may be registered twice
    _stopping[key] = (loop, callback)
    if _stopped:
        loop.call_soon(callback)
    try:
        yield
    finally:
        _stopping.pop(key, None)


def server_stopping() -> None:
    """Called from the server's signal handler: hands each callback to its loop."""
    global _stopped
    _stopped = True
    for loop, callback in list(_stopping.values()):
        loop.call_soon_threadsafe(callback)
