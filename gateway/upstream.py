"""The HTTP client the gateway forwards with, behind one small interface, in two implementations.

Forwarding is the gateway's hot path, and the client's own per-request cost decides how much of a
service's throughput the gateway keeps. Measured side by side (``bench/targets.py``), httpx
(httpcore) spends most of a small request scanning its pool (a readability check of every pooled
connection per request) and in anyio's stream wrappers; aiohttp's connector takes an idle
connection from a list. ``UPSTREAM_CLIENT`` picks one: ``aiohttp`` (the default) or ``httpx``.

Both send the path bytes exactly as given (no normalising, no re-encoding: the gateway has
already refused every ambiguous spelling) and leave bodies untouched (no decompression).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

import aiohttp
import httpx
from multidict import CIMultiDict
from yarl import URL

Body = bytes | AsyncIterator[bytes] | None
RawHeaders = list[tuple[bytes, bytes]]
ClientName = Literal["aiohttp", "httpx"]


class UpstreamConnectError(Exception):
    """Nothing was sent: the service could not be reached (another instance may be tried)."""


class UpstreamTimeoutError(Exception):
    """The service did not answer in time."""


class UpstreamStaleConnectionError(Exception):
    """A pooled connection the service had closed; the request may not have been read."""


class UpstreamError(Exception):
    """Any other transport failure."""


class UpstreamResponse(Protocol):
    status: int
    raw_headers: RawHeaders

    async def read(self) -> bytes: ...

    def stream(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class UpstreamClient(Protocol):
    async def send(
        self, method: str, base_url: str, target: bytes, headers: RawHeaders, body: Body
    ) -> UpstreamResponse: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Limits:
    max_connections: int
    max_keepalive: int
    connect_timeout: float
    timeout: float


def upstream_client(name: ClientName, limits: Limits) -> UpstreamClient:
    return AiohttpUpstream(limits) if name == "aiohttp" else HttpxUpstream(limits)


# -- aiohttp --------------------------------------------------------------------------------


@dataclass
class _AiohttpResponse:
    response: aiohttp.ClientResponse
    status: int
    raw_headers: RawHeaders

    async def read(self) -> bytes:
        try:
            return await self.response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamError(repr(exc)) from exc

    async def stream(self) -> AsyncIterator[bytes]:
        async for chunk in self.response.content.iter_any():
            yield chunk

    async def close(self) -> None:
        self.response.release()


class AiohttpUpstream:
    def __init__(self, limits: Limits) -> None:
        self._session = aiohttp.ClientSession(
            # Idle connections are let go before the services' own keep-alive (5 s) closes them
            # under us: a POST on a connection closing as it is sent cannot be sent again.
            connector=aiohttp.TCPConnector(
                limit=limits.max_connections, limit_per_host=0, keepalive_timeout=4.0
            ),
            timeout=aiohttp.ClientTimeout(
                total=None, connect=limits.connect_timeout, sock_read=limits.timeout
            ),
            auto_decompress=False,
            # Only what the client sent (and the gateway added) goes upstream.
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )

    async def send(
        self, method: str, base_url: str, target: bytes, headers: RawHeaders, body: Body
    ) -> UpstreamResponse:
        url = URL(base_url + target.decode("ascii"), encoded=True)
        fields = CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)
        try:
            response = await self._session.request(
                method, url, headers=fields, data=body, allow_redirects=False, compress=None
            )
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamConnectError(repr(exc)) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise UpstreamConnectError(repr(exc)) from exc
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            raise UpstreamTimeoutError(repr(exc)) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise UpstreamStaleConnectionError(repr(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(repr(exc)) from exc
        return _AiohttpResponse(response, response.status, list(response.raw_headers))

    async def close(self) -> None:
        await self._session.close()


# -- httpx ----------------------------------------------------------------------------------


@dataclass
class _HttpxResponse:
    response: httpx.Response
    status: int
    raw_headers: RawHeaders

    async def read(self) -> bytes:
        try:  # raw: a compressed body is passed on compressed, as its headers say
            return b"".join([chunk async for chunk in self.response.aiter_raw()])
        except httpx.TransportError as exc:
            raise UpstreamError(repr(exc)) from exc

    async def stream(self) -> AsyncIterator[bytes]:
        async for chunk in self.response.aiter_raw():
            yield chunk

    async def close(self) -> None:
        await self.response.aclose()


OWN_HEADERS = frozenset({b"user-agent", b"accept", b"accept-encoding"})


class HttpxUpstream:
    def __init__(self, limits: Limits) -> None:
        self._http = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive,
            ),
            timeout=httpx.Timeout(limits.timeout, connect=limits.connect_timeout),
            follow_redirects=False,
        )

    async def send(
        self, method: str, base_url: str, target: bytes, headers: RawHeaders, body: Body
    ) -> UpstreamResponse:
        request = self._http.build_request(
            method, httpx.URL(base_url).copy_with(raw_path=target), headers=headers, content=body
        )
        # Not httpx's own User-Agent, Accept or Accept-Encoding (a service would compress for a
        # client that never asked): only what the client sent, and the gateway added.
        given = {name.lower() for name, _ in headers}
        for name in OWN_HEADERS - given:
            del request.headers[name.decode()]
        try:
            response = await self._http.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise UpstreamConnectError(repr(exc)) from exc
        except httpx.TimeoutException as exc:
            raise UpstreamTimeoutError(repr(exc)) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise UpstreamStaleConnectionError(repr(exc)) from exc
        except httpx.TransportError as exc:
            raise UpstreamError(repr(exc)) from exc
        return _HttpxResponse(response, response.status_code, list(response.headers.raw))

    async def close(self) -> None:
        await self._http.aclose()
