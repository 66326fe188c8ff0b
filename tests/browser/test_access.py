"""A phone's width, the keyboard alone, labels, and the API's own refusal shown to a person."""

from __future__ import annotations

import datetime as dt
import uuid

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import WebStack, watched_page
from tests.browser.test_journey import PASSWORD, sign_up

PAGES = ["Dashboard", "Expenses", "Budgets", "Settings"]


async def sideways_overflow(page: Page) -> int:
    width: int = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return width


async def unlabelled_controls(page: Page) -> list[str]:
    found: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter((el) => {
              if (el.type === 'hidden') return false;
              const text = el.tagName === 'BUTTON' ? el.textContent.trim() : '';
              const name = el.labels?.length ? el.labels[0].textContent.trim()
                : (el.getAttribute('aria-label') || text);
              return !name;
            })
            .map((el) => el.outerHTML.slice(0, 120))"""
    )
    return found


async def test_phone_width_and_labels(web: WebStack, browser: Browser) -> None:
    watched = await watched_page(browser, width=390, height=844)
    page = watched.page
    try:
        await sign_up(page, web.url, f"phone-{uuid.uuid4().hex[:8]}@example.com")
        for name in PAGES:
            await page.get_by_role("link", name=name, exact=True).click()
            await expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
            if name == "Expenses":
                await page.get_by_role("button", name="Add expense").click()
            assert await sideways_overflow(page) <= 0, f"{name} scrolls sideways at 390 px"
            assert await unlabelled_controls(page) == [], name
            await watched.screenshot(f"phone-{name.lower()}")
        watched.check_clean()
    finally:
        await watched.context.close()


async def test_keyboard_only_sign_in(web: WebStack, browser: Browser) -> None:
    email = f"keys-{uuid.uuid4().hex[:8]}@example.com"
    first = await watched_page(browser)
    await sign_up(first.page, web.url, email)
    await first.context.close()
    watched = await watched_page(browser)
    page = watched.page
    try:
        await page.goto(web.url + "/")
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        await page.keyboard.press("Tab")
        await expect(page.get_by_label("Email")).to_be_focused()
        await page.keyboard.type(email)
        await page.keyboard.press("Tab")
        await expect(page.get_by_label("Password")).to_be_focused()
        await page.keyboard.type("wrong password")
        await page.keyboard.press("Enter")
        # The API's refusal, announced (role=alert), not only coloured.
        await expect(page.get_by_role("alert")).to_contain_text("incorrect email or password")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        watched.check_clean()
    finally:
        await watched.context.close()


async def test_a_hard_limit_refusal_shows_the_apis_message(web: WebStack, browser: Browser) -> None:
    watched = await watched_page(browser)
    page = watched.page
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    try:
        await sign_up(page, web.url, f"hard-{uuid.uuid4().hex[:8]}@example.com")
        await page.get_by_role("link", name="Budgets").click()
        form = page.get_by_role("form", name="Budget")
        await form.get_by_label("Limit", exact=True).fill("50")
        await form.get_by_label("Hard limit").check()
        await form.get_by_label("Repeat every month").check()
        await form.get_by_role("button", name="Save budget").click()
        await expect(page.locator(".budget-list")).to_contain_text("hard limit")
        await page.get_by_role("link", name="Expenses").click()
        await page.get_by_role("button", name="Add expense").click()
        expense = page.locator("form.expense-form")
        await expense.get_by_label("Amount").fill("75")
        await expense.get_by_label("Date").fill(f"{month}-01")
        await expense.get_by_role("button", name="Save").click()
        alert = expense.get_by_role("alert")
        await expect(alert).to_contain_text("Error:")
        await expect(alert).to_contain_text("50.00")
        await watched.screenshot("hard-limit-refused")
        watched.check_clean()
    finally:
        await watched.context.close()
