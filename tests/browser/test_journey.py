"""A new user's first session, in Chromium against the whole stack: sign up, record an expense
through the form, see it on the dashboard, set a budget, watch an alert arrive live when a
second client crosses 80%, import a CSV, switch months, reload, sign out."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import httpx
from playwright.async_api import FilePayload, Page, expect

from tests.browser.conftest import SCREENSHOTS, Watched, WebStack

PASSWORD = "correct horse battery"


def read_text(path: Path) -> str:
    return path.read_text()


def this_month() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m")


async def sign_up(page: Page, base_url: str, email: str) -> None:
    await page.goto(base_url + "/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_role("link", name="Create an account").click()
    await expect(page).to_have_url(base_url + "/signup")
    await page.get_by_label("Name (optional)").fill("Ann")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


async def test_a_new_users_first_session(web: WebStack, watched: Watched) -> None:
    page, base = watched.page, web.url
    email = f"ann-{uuid.uuid4().hex[:8]}@example.com"
    month = this_month()
    await sign_up(page, base, email)
    await expect(page.get_by_test_id("spent")).to_have_text("$0.00")
    await watched.screenshot("01-dashboard-empty")

    # Expenses: the form checks what the API checks, before sending.
    await page.get_by_role("link", name="Expenses").click()
    await page.get_by_role("button", name="Add expense").click()
    form = page.locator("form.expense-form")
    await form.get_by_label("Amount").fill("12.345")
    await form.get_by_role("button", name="Save").click()
    await expect(form.get_by_role("alert")).to_have_text(
        "Use digits with at most 2 decimal places, like 12.50."
    )
    await form.get_by_label("Amount").fill("42.50")
    await form.get_by_label("Category").select_option("food")
    await form.get_by_label("Description").fill("Groceries")
    await form.get_by_label("Tags").fill("home, weekly")
    await form.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text="Groceries")
    await expect(row).to_contain_text("$42.50")
    await expect(row).to_contain_text("home, weekly")
    await watched.screenshot("02-expenses")

    # The dashboard counts it (analytics follows through events, within moments).
    await page.get_by_role("link", name="Dashboard").click()
    await expect(page.get_by_test_id("spent")).to_have_text("$42.50", timeout=15_000)
    await expect(page.get_by_test_id("count")).to_have_text("1")
    await expect(page.locator(".recent")).to_contain_text("Groceries")

    # A food budget of 100; the dashboard shows its bar.
    await page.get_by_role("link", name="Budgets").click()
    budget_form = page.get_by_role("form", name="Budget")
    await budget_form.get_by_label("Category").select_option("food")
    await budget_form.get_by_label("Limit", exact=True).fill("100")
    await budget_form.get_by_role("button", name="Save budget").click()
    await expect(page.locator(".budget-list")).to_contain_text("food")
    await watched.screenshot("03-budgets")
    await page.get_by_role("link", name="Dashboard").click()
    bar = page.get_by_role("progressbar", name="food budget")
    await expect(bar).to_have_attribute("aria-valuenow", "42", timeout=15_000)

    # A second client (the API directly) crosses 80%: the alert appears live, no reload.
    async with httpx.AsyncClient(base_url=base, timeout=15) as other:
        login = await other.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        created = await other.post(
            "/api/expenses",
            headers=auth,
            json={"amount": "40.00", "category": "food", "date": f"{month}-01"},
        )
        assert created.status_code == 201, created.text
    toast = page.locator(".toast").filter(has_text="Food budget at 80%")
    await expect(toast).to_be_visible(timeout=15_000)
    await expect(
        page.get_by_role("link", name=re.compile(r"Notifications, [1-9]\d* unread"))
    ).to_be_visible()
    await expect(bar).to_have_attribute("aria-valuenow", "82", timeout=15_000)
    await expect(page.locator(".budget.warning")).to_contain_text("warning")
    await watched.screenshot("04-dashboard")

    # The feed shows it; marking all read clears the bell.
    await page.get_by_role("link", name=re.compile("Notifications")).click()
    await expect(page.locator(".feed")).to_contain_text("Food budget at 80%")
    await page.get_by_role("button", name="Mark all read").click()
    await expect(page.get_by_test_id("unread-count")).to_have_text("0")
    await watched.screenshot("05-notifications")

    # CSV import, with the per-line report.
    await page.get_by_role("link", name="Expenses").click()
    csv = (
        "date,amount,category,description\n"
        f"{month}-02,7.25,travel,Bus\n"
        f"{month}-03,12.345,food,Too precise\n"
    )
    await page.get_by_label("CSV file to import").set_input_files(
        files=FilePayload(name="bank.csv", mimeType="text/csv", buffer=csv.encode())
    )
    await page.get_by_role("button", name="Import", exact=True).click()
    report = page.get_by_test_id("import-report")
    await expect(report).to_contain_text("Imported 1, skipped 0, 1 refused.")
    await expect(report).to_contain_text("Line 3:")
    await expect(page.get_by_role("row").filter(has_text="Bus")).to_contain_text("$7.25")
    await watched.screenshot("06-import")

    # CSV export: a download of what the filters show.
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Export CSV").click()
    download = await download_info.value
    assert download.suggested_filename == "expenses.csv"
    exported = read_text(await download.path())
    assert "Groceries" in exported
    assert "Bus" in exported

    # Another month: every panel moves.
    await page.get_by_role("link", name="Dashboard").click()
    await expect(page.get_by_test_id("count")).to_have_text("3", timeout=15_000)
    await page.get_by_role("button", name="Previous month").click()
    await expect(page.get_by_test_id("spent")).to_have_text("$0.00")
    await expect(page.locator(".recent, .card.wide")).to_contain_text("Nothing recorded")
    await page.get_by_role("button", name="Next month").click()
    await expect(page.get_by_test_id("count")).to_have_text("3")

    # A reload keeps the session (the refresh token rotates); settings are there.
    await page.reload()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    await page.get_by_role("link", name="Settings").click()
    await expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()
    await watched.screenshot("07-settings")

    # Sign out: back to the sign-in page, and a reload does not bring the session back.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    watched.check_clean()
    assert (SCREENSHOTS / "04-dashboard.png").stat().st_size > 10_000
