"""shared.server: its protocol tells a streamed response when its client's connection is lost and
writes a response's head with its body (uvicorn's protocol on an in-memory transport, no
socket); once started, it puts what it made out of the garbage collector's sight (a server on a
free port of 127.0.0.1)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.server import ServerState

from shared.server import (
    JOINED_BODY_BYTES,
    YOUNG_COLLECTION_THRESHOLD,
    GuardedHttpToolsProtocol,
    _Server,
)
from shared.streaming import ON_DISCONNECT, StreamingResponse


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.writes: list[bytes] = []
        self.wrote = asyncio.Event()
        self.closing = False
        self.reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)
        self.writes.append(bytes(data))
        self.wrote.set()

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}.get(name, default)


class EndlessApp:
    """Answers every request with a stream that never ends by itself."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []
        self.streaming = asyncio.Event()
        self.ended = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)

        async def body() -> AsyncIterator[bytes]:
            try:
                yield b"first\n"
                self.streaming.set()
                await asyncio.Event().wait()
            finally:
                self.ended.set()

        await StreamingResponse(body())(scope, receive, send)


LARGE = JOINED_BODY_BYTES + 1


class SmallApp:
    """Answers with a few bytes, or, for /slow, starts its answer and sends the body when let."""

    def __init__(self) -> None:
        self.let_body = asyncio.Event()
        self.done = asyncio.Event()
        self.once_started: Callable[[], None] = lambda: None
        self.once_sent: Callable[[], None] = lambda: None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b"x" * LARGE if scope["path"] == "/large" else scope["path"].encode()
        if scope["method"] == "POST":
            while (await receive()).get("more_body"):
                pass
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())],
            }
        )
        self.once_started()
        if scope["path"] == "/slow":
            await self.let_body.wait()
        await send({"type": "http.response.body", "body": body})
        self.once_sent()
        self.done.set()


async def written(transport: Transport, condition: Callable[[bytes], bool]) -> None:
    async def wait() -> None:
        while not condition(transport.written):
            transport.wrote.clear()
            await transport.wrote.wait()

    await asyncio.wait_for(wait(), 5)


def connected(app: ASGIApp) -> tuple[GuardedHttpToolsProtocol, Transport]:
    config = Config(app, http="httptools", lifespan="off")
    config.load()
    protocol = GuardedHttpToolsProtocol(config, ServerState(), {}, _loop=asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport


async def test_a_stream_without_a_request_body_is_told_when_its_client_goes() -> None:
    app = EndlessApp()
    protocol, _ = connected(app)
    already = asyncio.all_tasks()
    protocol.data_received(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(app.streaming.wait(), 5)
    told = app.scopes[0]["extensions"][ON_DISCONNECT]
    assert len(told) == 1  # the response waits to be told...
    assert len(asyncio.all_tasks() - already) == 1  # ...in no task but the request's own
    protocol.connection_lost(None)
    await asyncio.wait_for(app.ended.wait(), 5)
    assert told == []


async def test_a_stream_with_a_request_body_listens_and_reads_it() -> None:
    """Nobody else would read the body: flow control would keep reading paused (a full buffer)
    and the client's leaving unseen. The response's listener reads it instead."""
    app = EndlessApp()
    protocol, transport = connected(app)
    body = b"a" * 200_000  # past uvicorn's buffer limit: reading pauses until it is read
    protocol.data_received(
        b"POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body[:100_000]
    )
    await asyncio.wait_for(app.streaming.wait(), 5)
    assert ON_DISCONNECT not in app.scopes[0].get("extensions", {})
    assert transport.reading
    protocol.connection_lost(None)
    await asyncio.wait_for(app.ended.wait(), 5)


async def test_a_small_answer_is_written_once_head_and_body_together() -> None:
    protocol, transport = connected(SmallApp())
    protocol.data_received(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
    await written(transport, lambda data: data.endswith(b"/one"))
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    protocol.data_received(b"GET /two HTTP/1.1\r\nHost: x\r\n\r\n")  # the same connection
    await written(transport, lambda data: data.endswith(b"/two"))
    assert len(transport.writes) == 2
    assert transport.writes[1].startswith(b"HTTP/1.1 200 OK\r\n")


async def test_a_head_whose_body_waits_is_written_on_the_loops_next_turn() -> None:
    app = SmallApp()
    protocol, transport = connected(app)
    protocol.data_received(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    await written(transport, lambda data: data.startswith(b"HTTP/1.1 200 OK\r\n"))
    assert transport.written.endswith(b"\r\n\r\n")  # the head alone: the body waits
    app.let_body.set()
    await written(transport, lambda data: data.endswith(b"/slow"))
    assert len(transport.writes) == 2


async def test_a_head_held_when_the_client_goes_is_not_written() -> None:
    app = SmallApp()
    protocol, transport = connected(app)
    app.once_started = lambda: protocol.connection_lost(None)  # before the loop turns
    protocol.data_received(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    app.let_body.set()
    await asyncio.wait_for(app.done.wait(), 5)
    assert transport.writes == []


async def test_a_head_held_when_the_connection_closes_is_not_written() -> None:
    app = SmallApp()
    protocol, transport = connected(app)

    def closed_by_a_timeout() -> None:
        transport.close()
        # The body comes after the turn in which a held head would be written (callbacks run
        # in the order they were scheduled).
        asyncio.get_running_loop().call_soon(app.let_body.set)

    app.once_started = closed_by_a_timeout
    protocol.data_received(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(app.done.wait(), 5)
    assert b"HTTP/1.1" not in transport.written


async def test_a_held_head_goes_before_the_refusal_of_a_bad_request_after_it() -> None:
    app = SmallApp()
    protocol, transport = connected(app)
    app.once_started = lambda: protocol.data_received(b"NOT HTTP AT ALL\r\n\r\n")
    protocol.data_received(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    await written(transport, lambda data: b"400 Bad Request" in data)
    assert transport.written.startswith(b"HTTP/1.1 200 OK\r\n")  # in the order written
    assert transport.closing


async def test_a_large_body_is_written_after_its_head_not_copied_to_join_it() -> None:
    protocol, transport = connected(SmallApp())
    protocol.data_received(b"GET /large HTTP/1.1\r\nHost: x\r\n\r\n")
    await written(transport, lambda data: len(data) > LARGE)
    assert len(transport.writes) == 2
    assert transport.writes[1] == b"x" * LARGE


async def test_a_head_only_answer_is_written_before_a_shutdown_closes_the_connection() -> None:
    app = SmallApp()
    protocol, transport = connected(app)
    app.once_sent = protocol.shutdown  # uvicorn stopping, before the loop turns
    protocol.data_received(b"HEAD /one HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(app.done.wait(), 5)
    assert transport.written.startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.closing


async def test_a_100_continue_is_written_alone_and_the_answer_after_it() -> None:
    protocol, transport = connected(SmallApp())
    protocol.data_received(
        b"POST /one HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    )
    await written(transport, lambda data: len(data) > 0)
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    protocol.data_received(b"ab")
    await written(transport, lambda data: data.endswith(b"/one"))
    assert transport.writes[1].startswith(b"HTTP/1.1 200 OK\r\n")


async def test_pipelined_answers_are_written_in_order() -> None:
    app = SmallApp()
    protocol, transport = connected(app)
    protocol.data_received(
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    await written(transport, lambda data: data.startswith(b"HTTP/1.1 200 OK\r\n"))
    app.let_body.set()
    await written(transport, lambda data: data.endswith(b"/two"))
    first, second = transport.written.split(b"/slow")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert second.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_once_started_what_the_process_made_is_out_of_the_collectors_sight() -> None:
    gc.unfreeze()
    thresholds = gc.get_threshold()
    app = EndlessApp()
    server = _Server(Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn's own flag, no event to wait on
            await asyncio.sleep(0.01)
        assert gc.get_freeze_count() > 10_000  # the modules and the app, at least
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *thresholds[1:])
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
        gc.unfreeze()
        gc.set_threshold(*thresholds)
