"""Which service answers which path, and which paths need no token. The paths are the API's
contract (DESIGN.md); the services' addresses come from configuration."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

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
}

PUBLIC_PATHS = frozenset(
    {"/api/auth/register", "/api/auth/login", "/api/auth/token", "/api/auth/refresh"}
)
# Failed attempts on these count against the account named in the body.
LOGIN_PATHS = frozenset({"/api/auth/login", "/api/auth/token"})


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
