"""How the gateway serves the web app and the offline /docs, next to the API it leaves as is."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Browser, expect

from tests.browser.conftest import WebStack, watched_page


async def test_index_assets_and_client_routes(web: WebStack) -> None:
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        index = await http.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert index.headers["cache-control"] == "no-cache"
        assert "default-src 'self'" in index.headers["content-security-policy"]
        asset = re.search(r'src="(/assets/[^"]+\.js)"', index.text)
        assert asset, index.text
        script = await http.get(asset.group(1))
        assert script.status_code == 200
        assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert script.headers["content-type"].startswith("text/javascript")
        # A client route is the app; a missing file is not.
        route = await http.get("/expenses")
        assert route.status_code == 200
        assert route.text == index.text
        missing = await http.get("/assets/nothing-here.js")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        # The API and operations answer as before.
        api = await http.get("/api/no-such-thing")
        assert api.status_code in {401, 404}
        assert api.headers["content-type"] == "application/problem+json"
        assert (await http.get("/health")).json() == {"status": "ok"}
        assert (await http.get("/openapi.json")).json()["paths"]
        outside = await http.get("/../etc/passwd")
        assert "root:" not in outside.text


async def test_docs_work_offline(web: WebStack, browser: Browser) -> None:
    watched = await watched_page(browser)
    try:
        await watched.page.goto(web.url + "/docs")
        await expect(watched.page.locator(".swagger-ui .title")).to_contain_text(
            "Expense Tracker API", timeout=15_000
        )
        await expect(watched.page.get_by_text("/api/expenses").first).to_be_visible()
        await watched.screenshot("docs")
        watched.check_clean()
        assert any("/docs/assets/swagger-ui-bundle.js" in url for url in watched.requests)
    finally:
        await watched.context.close()
