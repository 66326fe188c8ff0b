"""Which service answers which path, and which paths need no token. The paths are the API's
contract (docs/api.md); the services' addresses come from configuration."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from urllib.parse import unquote_to_bytes

from pydantic import AnyHttpUrl

PREFIXES: dict[str, str] = {
    "/api/auth": "user_service",
    "/api/users": "user_service",
    "/api/expenses": "expense_service",
    "/api/categories": "expense_service",
    "/api/recurring": "expense_service",
    "/api/budgets": "budget_service",
    "/api/budget": "budget_service",
    "/api/analytics": "analytics_service",
    "/api/notifications": "notification_service",
    "/api/webhooks": "notification_service",
}

PUBLIC_PATHS = frozenset(
    {
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/token",
        "/api/auth/refresh",
        "/api/auth/forgot-password",
        "/api/auth/reset-password",
    }
)

# What a path may spell, before decoding: unreserved and sub-delim characters, ':', '@', '/',
# and percent escapes. Anything else (spaces, quotes, backslashes, non-ASCII) is refused.
_PATH_SPELLING = re.compile(rb"^/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$")
# Escapes that would change the path's structure once a service decodes it.
_STRUCTURAL_ESCAPES = re.compile(rb"%(?:2[Ff]|5[Cc]|25)")


class AmbiguousPathError(ValueError):
    """A path that different parsers could read differently; the gateway refuses it."""


def routable_path(raw_path: bytes) -> str:
    """The decoded path of a request, if it means one thing only.

    The gateway routes on what it decodes and forwards the raw bytes unchanged, so the two must
    agree for every service: no dot segments (raw or escaped), no empty segments, no escaped
    '/', '\\' or '%', no control characters. Otherwise ``/api/budgets/%2e%2e/metrics`` would be
    routed as a budget path and then reach ``/metrics`` of whoever normalises it.
    """
    if not _PATH_SPELLING.match(raw_path):
        raise AmbiguousPathError("the path has characters that must be percent-encoded")
    if _STRUCTURAL_ESCAPES.search(raw_path):
        raise AmbiguousPathError("the path has an encoded '/', '\\' or '%'")
    decoded = unquote_to_bytes(raw_path)
    if any(byte < 0x20 or byte == 0x7F for byte in decoded):
        raise AmbiguousPathError("the path has control characters")
    try:
        path = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise AmbiguousPathError("the path is not UTF-8") from None
    segments = path.split("/")[1:]
    if any(segment in {".", ".."} for segment in segments):
        raise AmbiguousPathError("the path has '.' or '..' segments")
    if "" in segments[:-1]:
        raise AmbiguousPathError("the path has an empty segment ('//')")
    return path


def service_for(path: str) -> str | None:
    for prefix, service in PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return None


class RouteTable:
    """Base URLs per service, handed out round-robin."""

    def __init__(self, upstreams: dict[str, list[AnyHttpUrl]]) -> None:
        self.base_urls = {
            name: [str(u).rstrip("/") for u in urls] for name, urls in upstreams.items()
        }
        self._cycles: dict[str, Iterator[str]] = {
            name: itertools.cycle(urls) for name, urls in self.base_urls.items() if urls
        }

    def candidates(self, service: str) -> list[str]:
        """Every base URL of ``service``, starting with the next one in turn."""
        urls = self.base_urls.get(service) or []
        if not urls:
            return []
        first = next(self._cycles[service])
        start = urls.index(first)
        return urls[start:] + urls[:start]
