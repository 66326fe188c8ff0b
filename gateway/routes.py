"""The gateway's own routes (merged docs) and the lane that proxies ``/api/*``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.openapi import OpenApiMerger
from gateway.proxy import Proxy
from gateway.static import DOCS_ASSETS_PATH
from shared.problems import problem

router = APIRouter()

PROXIED_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> JSONResponse:
    merger: OpenApiMerger = request.app.state.openapi_merger
    document: dict[str, Any] = await merger.document()
    return JSONResponse(document)


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Expense Tracker API",
        oauth2_redirect_url="/docs/oauth2-redirect",
        swagger_ui_parameters={"persistAuthorization": True},
        # Served by the gateway itself (swagger-ui-bundle), so /docs works offline.
        swagger_js_url=f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS_PATH}/favicon-32x32.png",
    )


@router.get("/docs/oauth2-redirect", include_in_schema=False)
async def docs_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


class ProxyLane:
    """Every ``/api/*`` request goes straight to the proxy, the innermost of the gateway's
    middleware (request id, metrics, unexpected errors, CORS all still apply): Starlette's
    exception middleware, router and endpoint wrapper would be layers of work and memory for
    nothing on the hot path, and about 6 KiB per open live stream. The proxy answers every
    refusal itself, as a response: an HTTPException raised under it would not be translated
    here, and would become the 500 problem."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        scope["route"] = API_ROUTE  # the metrics label, as the router would have set it
        response: Response
        if scope["method"] not in PROXIED_METHODS:
            response = problem(
                405, f"method {scope['method']} is not allowed", headers={"Allow": ALLOW}
            )
        else:
            gateway_proxy: Proxy = scope["app"].state.proxy
            response = await gateway_proxy.handle(Request(scope, receive, send))
        await response(scope, receive, send)


API_ROUTE = Route("/api/{path:path}", lambda request: None, methods=PROXIED_METHODS)
ALLOW = ", ".join(PROXIED_METHODS)
