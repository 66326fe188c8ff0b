"""gateway app factory: ``uvicorn --factory gateway.app:create_app``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from gateway.events import HANDLERS
from gateway.openapi import OpenApiMerger
from gateway.proxy import Proxy
from gateway.routes import ProxyLane, router
from gateway.routing import RouteTable
from gateway.settings import Settings
from gateway.static import DOCS_ASSETS_PATH, WEB_DIST, WebApp, swagger_assets, web_router
from gateway.storage import create_indexes
from gateway.upstream import Limits, upstream_client
from shared.auth import JwksKeys
from shared.health import ReadinessCheck
from shared.ratelimit import RateLimiter
from shared.service import ServiceRuntime, create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    table = RouteTable(settings.upstreams)

    @contextlib.asynccontextmanager
    async def extra(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        # For the cold paths (signing keys, merged docs, readiness); forwarding has its own.
        http = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=settings.upstream_max_connections,
                max_keepalive_connections=settings.upstream_max_keepalive,
            ),
            timeout=httpx.Timeout(
                settings.upstream_timeout, connect=settings.upstream_connect_timeout
            ),
            follow_redirects=False,
        )
        verifier = app.state.token_verifier
        verifier.use_keys(JwksKeys(settings.jwks_url, http))
        upstream = upstream_client(
            settings.upstream_client,
            Limits(
                max_connections=settings.upstream_max_connections,
                max_keepalive=settings.upstream_max_keepalive,
                connect_timeout=settings.upstream_connect_timeout,
                timeout=settings.upstream_timeout,
            ),
        )
        app.state.proxy = Proxy(
            settings, upstream, table, verifier, app.state.revocations, RateLimiter(runtime.db)
        )
        app.state.openapi_merger = OpenApiMerger(http, table, settings.openapi_cache_seconds)
        for service in table.base_urls:
            runtime.readiness[service] = _upstream_ready(http, table, service)
        try:
            yield
        finally:
            await upstream.close()
            await http.aclose()

    app = create_service_app(
        settings,
        title="gateway",
        description="The public entry point of the Expense Tracker API.",
        routers=[router],
        create_indexes=create_indexes,
        handlers=HANDLERS,
        emits_events=False,
        extra_lifespan=extra,
        lane=ProxyLane,  # /api/* skips the router
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.mount(DOCS_ASSETS_PATH, swagger_assets(), name="docs-assets")
    # Last, so that every API and operations route is matched before the web app's fallback.
    app.include_router(web_router(WebApp(settings.web_dir or WEB_DIST)))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
            expose_headers=["Location", "Retry-After", "X-Request-ID"],
        )
    return app


def _upstream_ready(http: httpx.AsyncClient, table: RouteTable, service: str) -> ReadinessCheck:
    async def check() -> bool:
        for base_url in table.base_urls[service]:
            try:
                response = await http.get(f"{base_url}/ready", timeout=2.0)
            except httpx.HTTPError:
                return False
            if response.status_code != 200:
                return False
        return True

    return check
