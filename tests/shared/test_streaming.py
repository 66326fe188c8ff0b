"""shared.streaming: a client leaving ends the stream in its own task (pure logic: the ASGI
server is a pair of in-memory callables). Each test runs twice: with a server that says when the
client goes (shared.server's ``ON_DISCONNECT``) and with one that only answers ``receive``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from starlette.background import BackgroundTask
from starlette.types import Message

from shared import streaming
from shared.streaming import ON_DISCONNECT, StreamingResponse, when_stopping

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "method": "GET"}


class Server:
    """What uvicorn hands an app: ``receive`` answers ``http.disconnect`` once ``leave`` is
    called; ``send`` records what was sent. ``tells``: the scope carries shared.server's list of
    callbacks for a lost connection, which ``leave`` runs."""

    def __init__(self, tells: bool) -> None:
        self.sent: list[Message] = []
        self.gone = asyncio.Event()
        self.told: list[Callable[[], None]] | None = [] if tells else None
        self.scope = SCOPE | ({"extensions": {ON_DISCONNECT: self.told}} if tells else {})

    def leave(self) -> None:
        self.gone.set()
        for client_gone in list(self.told or ()):
            client_gone()

    async def receive(self) -> Message:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


@pytest.fixture(params=[True, False], ids=["told by the server", "listening"])
def server(request: pytest.FixtureRequest) -> Server:
    return Server(tells=request.param)


class Endless:
    """A body that yields once and then waits for ever, noting whether its cleanup ran."""

    def __init__(self) -> None:
        self.cleaned_up = False
        self.started = asyncio.Event()

    async def __call__(self) -> AsyncIterator[bytes]:
        try:
            yield b"first\n"
            self.started.set()
            await asyncio.Event().wait()
        finally:
            self.cleaned_up = True


async def test_a_client_leaving_ends_the_body_and_the_response_returns(server: Server) -> None:
    already = asyncio.all_tasks()  # the loop may be shared with other tests' tasks
    body, closed = Endless(), asyncio.Event()
    response = StreamingResponse(body(), background=BackgroundTask(closed.set))
    answering = asyncio.create_task(response(server.scope, server.receive, server.send))
    await body.started.wait()
    # Told by the server, the response keeps no task of its own while it streams.
    assert len(asyncio.all_tasks() - already) == (1 if server.told is not None else 2)
    server.leave()
    await asyncio.wait_for(answering, 5)  # returns: no CancelledError escapes
    assert body.cleaned_up
    assert closed.is_set()  # the background task still runs
    assert server.body == b"first\n"
    assert asyncio.all_tasks() - already == set()  # the listener is gone too
    assert not server.told  # and nothing is left for the server to call


async def test_a_cancellation_from_elsewhere_is_not_swallowed(server: Server) -> None:
    """Shutdown cancels the task; that must propagate, unlike a client leaving."""
    body = Endless()
    answering = asyncio.create_task(
        StreamingResponse(body())(server.scope, server.receive, server.send)
    )
    await body.started.wait()
    answering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await answering
    assert body.cleaned_up


async def test_a_shutdown_cancel_as_the_client_leaves_is_not_swallowed(server: Server) -> None:
    """Both cancels land before the task runs again: one CancelledError arrives, and it must
    still propagate (the task was asked to stop twice)."""
    body = Endless()
    answering = asyncio.create_task(
        StreamingResponse(body())(server.scope, server.receive, server.send)
    )
    await body.started.wait()
    server.leave()  # told by the server: the streaming is cancelled now
    if server.told is None:
        await asyncio.sleep(0)  # the listener hears the client leave and cancels the streaming
    answering.cancel()  # and shutdown cancels it too, before it runs
    with pytest.raises(asyncio.CancelledError):
        await answering
    assert body.cleaned_up


async def test_a_body_that_ends_completes_the_response(server: Server) -> None:
    async def two_lines() -> AsyncIterator[bytes]:
        yield b"a\n"
        yield b"b\n"

    already = asyncio.all_tasks()
    await StreamingResponse(two_lines())(server.scope, server.receive, server.send)
    assert server.sent[0]["type"] == "http.response.start"
    assert server.body == b"a\nb\n"
    assert server.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    await asyncio.sleep(0)  # the cancelled listener finishes
    assert asyncio.all_tasks() - already == set()
    assert not server.told
    server.leave()  # the connection closing later ends nothing: the response is complete


async def test_a_stream_that_begins_after_the_stop_is_told_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streaming, "_stopped", False)
    monkeypatch.setattr(streaming, "_stopping", {})
    open_before, begun_after = asyncio.Event(), asyncio.Event()
    with when_stopping(open_before.set):
        streaming.server_stopping()
        await asyncio.wait_for(open_before.wait(), 5)
        with when_stopping(begun_after.set):
            await asyncio.wait_for(begun_after.wait(), 5)
    assert streaming._stopping == {}
