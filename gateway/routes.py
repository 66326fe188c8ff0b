"""The gateway's own routes: merged docs, and the catch-all that proxies ``/api/*``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from gateway.openapi import OpenApiMerger
from gateway.proxy import Proxy
from gateway.static import DOCS_ASSETS_PATH

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


async def proxy(request: Request) -> Response:
    gateway_proxy: Proxy = request.app.state.proxy
    return await gateway_proxy.handle(request)


# A plain Starlette route: the proxy takes the request as it is, so FastAPI's per-request
# parameter solving (and its objects, about 4.6 KiB per open stream) would be work for nothing.
router.routes.append(Route("/api/{path:path}", proxy, methods=PROXIED_METHODS))
