"""The browser's session: the refresh token only in an HttpOnly, SameSite=Strict cookie scoped
to /api/auth, usable only with the X-Refresh-Cookie header (CSRF), and never in page storage."""

from __future__ import annotations

import uuid

import httpx
from playwright.async_api import expect

from tests.browser.conftest import Watched, WebStack
from tests.browser.test_journey import PASSWORD, sign_up

COOKIE_MODE = {"X-Refresh-Cookie": "1"}


async def test_the_refresh_cookie_over_the_api(web: WebStack) -> None:
    email = f"cookie-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=web.url, timeout=15) as http:
        created = await http.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        credentials = {"email": email, "password": PASSWORD}
        login = await http.post("/api/auth/login", json=credentials, headers=COOKIE_MODE)
        assert login.status_code == 200, login.text
        assert login.json()["refresh_token"] == ""
        set_cookie = login.headers["set-cookie"]
        for attribute in ("refresh_token=", "HttpOnly", "SameSite=strict", "Path=/api/auth"):
            assert attribute.lower() in set_cookie.lower(), set_cookie
        first = http.cookies["refresh_token"]

        # The cookie alone (what a cross-site form would send) refreshes nothing.
        forged = await http.post("/api/auth/refresh")
        assert forged.status_code == 422
        assert "X-Refresh-Cookie" in forged.json()["detail"]

        rotated = await http.post("/api/auth/refresh", headers=COOKIE_MODE)
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["access_token"]
        assert http.cookies["refresh_token"] != first

        # The old cookie value, presented again, is refused (and ends that session).
        reused = await http.post("/api/auth/refresh", json={"refresh_token": first})
        assert reused.status_code == 401

        # Clients that send the token in the body are served as before.
        plain = await http.post("/api/auth/login", json=credentials)
        assert plain.json()["refresh_token"]
        assert "set-cookie" not in plain.headers


async def test_the_page_never_holds_the_refresh_token(web: WebStack, watched: Watched) -> None:
    await sign_up(watched.page, web.url, f"store-{uuid.uuid4().hex[:8]}@example.com")
    cookies = await watched.context.cookies()
    refresh = [c for c in cookies if c["name"] == "refresh_token"]
    assert len(refresh) == 1
    assert refresh[0].get("httpOnly") is True
    assert refresh[0].get("sameSite") == "Strict"
    assert refresh[0].get("path") == "/api/auth"
    stored = await watched.page.evaluate(
        "JSON.stringify([document.cookie, {...localStorage}, {...sessionStorage}])"
    )
    assert stored == '["",{},{}]'
    # A reload signs in again from the cookie alone.
    await watched.page.reload()
    await expect(watched.page.get_by_role("heading", name="Dashboard")).to_be_visible()
    # Sign-out clears the cookie: the next reload lands on the sign-in page.
    await watched.page.get_by_role("button", name="Sign out").click()
    await expect(watched.page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert [c for c in await watched.context.cookies() if c["name"] == "refresh_token"] == []
    await watched.page.reload()
    await expect(watched.page.get_by_role("heading", name="Sign in")).to_be_visible()
    watched.check_clean()
