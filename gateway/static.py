"""What the gateway serves besides the API: the web app (``web/dist``, built by ``make install``)
at ``/`` and Swagger UI's own files for an offline ``/docs``.

Hashed assets (``/assets/*``) are cached for a year, ``index.html`` is revalidated every time,
and a path that is neither a file nor an API path is a client route: it gets ``index.html``.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

import swagger_ui_bundle
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

WEB_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
SWAGGER_ASSETS = Path(str(swagger_ui_bundle.swagger_ui_path))
DOCS_ASSETS_PATH = "/docs/assets"

LONG_CACHE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
# The app loads nothing from elsewhere; the policy says so to the browser too.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; font-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
NOT_BUILT = (
    "the web app is not built here: install Node.js 20 or later and run `make install` "
    "(the API is at /api, its docs at /docs)"
)
# Paths the SPA fallback never answers: they belong to the API and operations.
RESERVED_PREFIXES = ("/api/", "/docs", "/openapi.json", "/health", "/ready", "/metrics")

mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/css", ".css")
mimetypes.add_type("image/svg+xml", ".svg")


def swagger_assets() -> StaticFiles:
    """Swagger UI's JavaScript and CSS, from the swagger-ui-bundle package (no CDN)."""
    return StaticFiles(directory=SWAGGER_ASSETS)


class WebApp:
    """The built single-page app in ``root``; a missing build answers 404 with how to make it."""

    def __init__(self, root: Path = WEB_DIST) -> None:
        self.root = root.resolve()

    @property
    def built(self) -> bool:
        return (self.root / "index.html").is_file()

    def file_for(self, path: str) -> Path | None:
        """The file under the root that ``path`` names, if there is one (never outside it)."""
        relative = path.lstrip("/")
        if not relative:
            return None
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    def response(self, path: str) -> Response:
        if any(path == p.rstrip("/") or path.startswith(p) for p in RESERVED_PREFIXES):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such route: {path}")
        if not self.built:
            raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_BUILT)
        found = self.file_for(path)
        if found is not None and found.name != "index.html":
            hashed = found.parent == self.root / "assets"
            return FileResponse(
                found, headers={"Cache-Control": LONG_CACHE if hashed else NO_CACHE}
            )
        last = path.rsplit("/", 1)[-1]
        if "." in last:  # a file name that is not there: not a client route
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such file: {path}")
        return FileResponse(
            self.root / "index.html",
            media_type="text/html",
            headers={
                "Cache-Control": NO_CACHE,
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )


def web_router(web: WebApp) -> APIRouter:
    """``GET /`` and every other GET the API does not answer: registered last."""
    router = APIRouter()

    @router.api_route("/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def web_app(request: Request, path: str) -> Response:
        return web.response(request.url.path)

    return router
