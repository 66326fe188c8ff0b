"""The whole stack as processes, started the way ``make run`` starts it, with the built web app,
and Debian's Chromium driven by Playwright. Screenshots go to ``test-output/browser/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Request, async_playwright

from devstack.stack import Stack
from tests.conftest import USE_DOCKER
from tests.support import ROOT, running_stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = ROOT / "test-output" / "browser"
LOCAL_HOSTS = {"127.0.0.1"}


def _exists(path: Path) -> bool:
    return path.is_file()


@dataclass
class WebStack:
    stack: Stack

    @property
    def url(self) -> str:
        return self.stack.gateway_url


@pytest.fixture(scope="session")
async def web(
    tmp_path_factory: pytest.TempPathFactory, mongo_url: str, amqp_url: str
) -> AsyncIterator[WebStack]:
    if not _exists(ROOT / "web" / "dist" / "index.html"):
        pytest.fail("web/dist is not built: run `make install` (needs Node.js 20+)")
    async with running_stack(
        tmp_path_factory.mktemp("webstack") / ".data",
        amqp_url,
        mongodb_url=mongo_url if USE_DOCKER else None,
        env={"AUTH_IP_LIMIT": "10000", "BCRYPT_ROUNDS": "4"},
        service_env={"notification_service": {"SSE_HEARTBEAT_SECONDS": "1"}},
    ) as (stack, _):
        yield WebStack(stack)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not _exists(Path(CHROMIUM)):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@dataclass
class Watched:
    """A page whose every request and every script error is recorded."""

    page: Page
    context: BrowserContext
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def outside(self) -> list[str]:
        """Requests that went anywhere but this machine."""
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in {"data", "blob"}
            and urlsplit(url).hostname not in LOCAL_HOSTS
        ]

    def check_clean(self) -> None:
        assert self.outside() == [], f"requests left 127.0.0.1: {self.outside()}"
        assert self.errors == [], f"JavaScript errors: {self.errors}"

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


async def watched_page(
    browser: Browser, width: int = 1200, height: int = 900, *, accept_dialogs: bool = True
) -> Watched:
    context = await browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    page = await context.new_page()
    watched = Watched(page, context)

    def on_request(request: Request) -> None:
        watched.requests.append(request.url)

    page.on("request", on_request)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    # Chromium logs every 4xx/5xx answer as "Failed to load resource": the API refusing is
    # part of the tests; a script error is not.
    page.on(
        "console",
        lambda message: (
            watched.errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    if accept_dialogs:
        page.on("dialog", lambda dialog: dialog.accept())
    return watched


@pytest.fixture
async def watched(browser: Browser) -> AsyncIterator[Watched]:
    w = await watched_page(browser)
    yield w
    await w.context.close()
