"""One OpenAPI document for the whole API, merged from every service's own."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import httpx

from gateway.routing import RouteTable

OPERATIONS_PATHS = ("/health", "/ready", "/metrics", "/.well-known/")


class OpenApiMerger:
    def __init__(self, http: httpx.AsyncClient, table: RouteTable, cache_seconds: float) -> None:
        self._http = http
        self._table = table
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def document(self) -> dict[str, Any]:
        if self._cached and time.monotonic() - self._cached[0] < self._cache_seconds:
            return self._cached[1]
        services = sorted(self._table.base_urls)
        docs = await asyncio.gather(*(self._fetch(s) for s in services))
        merged = merge(dict(zip(services, docs, strict=True)))
        if all(doc is not None for doc in docs):
            self._cached = (time.monotonic(), merged)
        return merged

    async def _fetch(self, service: str) -> dict[str, Any] | None:
        for base_url in self._table.candidates(service):
            try:
                response = await self._http.get(f"{base_url}/openapi.json", timeout=5.0)
                response.raise_for_status()
                doc: dict[str, Any] = response.json()
                return doc
            except (httpx.HTTPError, ValueError):
                continue
        return None


def merge(docs: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    security_schemes: dict[str, Any] = {}
    missing = [name for name, doc in docs.items() if doc is None]
    for service, doc in docs.items():
        if doc is None:
            continue
        doc = _rename_clashing_schemas(service, copy.deepcopy(doc), schemas)
        components = doc.get("components", {})
        schemas.update(components.get("schemas", {}))
        security_schemes.update(components.get("securitySchemes", {}))
        for path, item in doc.get("paths", {}).items():
            if not path.startswith(OPERATIONS_PATHS):
                paths[path] = item
    description = "Every service's API, reached through this gateway."
    if missing:
        description += f" Not reachable now, so not listed: {', '.join(missing)}."
    return {
        "openapi": "3.1.0",
        "info": {"title": "Expense Tracker API", "version": "0.1.0", "description": description},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas, "securitySchemes": security_schemes},
    }


def _rename_clashing_schemas(
    service: str, doc: dict[str, Any], known: dict[str, Any]
) -> dict[str, Any]:
    """Two services may both define ``Item``; the later one's becomes ``<service>__Item``."""
    clashes = [
        name
        for name, schema in doc.get("components", {}).get("schemas", {}).items()
        if name in known and known[name] != schema
    ]
    if not clashes:
        return doc
    text = json.dumps(doc)
    for name in clashes:
        text = text.replace(
            f'"#/components/schemas/{name}"', f'"#/components/schemas/{service}__{name}"'
        )
    renamed: dict[str, Any] = json.loads(text)
    schemas = renamed["components"]["schemas"]
    for name in clashes:
        schemas[f"{service}__{name}"] = schemas.pop(name)
    return renamed
