"""Both forwarding clients behave the same against a real (tiny) HTTP server on a socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.upstream import (
    ClientName,
    Limits,
    UpstreamConnectError,
    UpstreamTimeoutError,
    upstream_client,
)
from tests.support import free_port

LIMITS = Limits(max_connections=8, max_keepalive=8, connect_timeout=1, timeout=0.5)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[bytes]]]:
    """Answers each request with its own request line; ``/slow`` never answers."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        line = head.split(b"\r\n", 1)[0]
        if b" /slow " in line:
            await asyncio.sleep(5)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-encoding: gzip\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(line), line)
        )
        await writer.drain()
        writer.close()

    port = free_port()
    listener = await asyncio.start_server(serve, "127.0.0.1", port)
    async with listener:
        yield f"http://127.0.0.1:{port}", seen


@pytest.mark.parametrize("name", ["aiohttp", "httpx"])
async def test_the_path_goes_byte_for_byte_and_the_body_untouched(
    server: tuple[str, list[bytes]], name: ClientName
) -> None:
    base_url, seen = server
    client = upstream_client(name, LIMITS)
    try:
        target = b"/api/categories/caf%C3%A9?q=%2e%2e&x=%7E"
        response = await client.send(
            "GET",
            base_url,
            target,
            [(b"x-request-id", b"r1"), (b"authorization", b"Bearer t")],
            None,
        )
        body = await response.read()
        await response.close()
    finally:
        await client.close()
    assert body == b"GET " + target + b" HTTP/1.1"
    headers = {k.lower() for k, _ in response.raw_headers}
    assert b"content-encoding" in headers  # passed on as is, not decoded
    assert b"x-request-id: r1" in seen[0].lower()
    assert b"user-agent" not in seen[0].lower()  # nothing the caller did not send


@pytest.mark.parametrize("name", ["aiohttp", "httpx"])
async def test_errors_are_named_the_same(server: tuple[str, list[bytes]], name: ClientName) -> None:
    base_url, _ = server
    client = upstream_client(name, LIMITS)
    try:
        with pytest.raises(UpstreamTimeoutError):
            await client.send("GET", base_url, b"/slow", [], None)
        with pytest.raises(UpstreamConnectError):
            await client.send("GET", f"http://127.0.0.1:{free_port()}", b"/x", [], None)
    finally:
        await client.close()
