"""In Chromium: the monthly statement downloads as a PDF from the dashboard; a forgotten
password is reset through the link (with no SMTP server in development, the link is in
notification_service's log, as the README says) and the new password signs in."""

from __future__ import annotations

import re
import uuid

from playwright.async_api import expect

from tests.browser.conftest import Watched, WebStack
from tests.browser.test_journey import PASSWORD, sign_up
from tests.support import eventually

LINK = re.compile(r"password reset link: (http\S+?#token=[\w-]+)")


async def test_statement_download_and_password_reset(web: WebStack, watched: Watched) -> None:
    page, base = watched.page, web.url
    email = f"remy-{uuid.uuid4().hex[:8]}@example.com"
    await sign_up(page, base, email)

    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Statement (PDF)").click()
    download = await download_info.value
    assert re.fullmatch(r"statement-\d{4}-\d{2}\.pdf", download.suggested_filename)
    saved = await download.path()
    assert saved.read_bytes().startswith(b"%PDF-")

    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_role("link", name="Forgot your password?").click()
    await expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    await page.get_by_label("Email").fill(email)
    await page.get_by_role("button", name="Email me a reset link").click()
    await expect(page.get_by_text("If an account has this address")).to_be_visible()

    log = web.stack.log_dir / "notification_service.log"

    async def logged_link() -> str | None:
        links = LINK.findall(log.read_text(errors="replace"))
        mine = [link for link in links if link.startswith(base)]
        return mine[-1] if mine else None

    link = await eventually(logged_link, timeout=10, what="the reset link in the log")
    await page.goto(link)
    await expect(page.get_by_role("heading", name="Set a new password")).to_be_visible()
    await page.get_by_label("New password").fill("short")
    await page.get_by_role("button", name="Set password").click()
    await expect(page.get_by_role("alert")).to_contain_text("at least 8 characters")
    await page.get_by_label("New password").fill("a new and long secret")
    await page.get_by_role("button", name="Set password").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_text("Password changed. Sign in with the new one.")).to_be_visible()
    await watched.screenshot("30-after-reset")

    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("incorrect email or password")
    await page.get_by_label("Password").fill("a new and long secret")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
