"""In Chromium: a recurring rule created from its page fills in the entries already due, can be
paused; the expense form takes the suggested category for a description; the weekly summary's
day is a saved preference."""

from __future__ import annotations

import datetime as dt
import uuid

from playwright.async_api import expect

from tests.browser.conftest import Watched, WebStack
from tests.browser.test_journey import sign_up


async def test_recurring_suggestions_and_the_weekly_summary(
    web: WebStack, watched: Watched
) -> None:
    page, base = watched.page, web.url
    await sign_up(page, base, f"rita-{uuid.uuid4().hex[:8]}@example.com")

    await page.get_by_role("link", name="Recurring").click()
    await expect(page.get_by_text("No recurring entries yet.")).to_be_visible()
    await page.get_by_role("button", name="Add recurring").click()
    form = page.locator("form.expense-form")
    today = dt.datetime.now(dt.UTC).date()
    start = today.replace(day=1) - dt.timedelta(days=40)
    await form.get_by_label("Amount").fill("35")
    await form.get_by_label("Description").fill("Gym membership")
    await form.get_by_label("Category").select_option("bills")
    await form.get_by_label("First date").fill(start.isoformat())
    await form.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text="Gym membership")
    await expect(row).to_contain_text("every month")
    await expect(row).to_contain_text("$35.00")
    await watched.screenshot("20-recurring")

    # The entries already due are ordinary expenses, marked as recurring.
    await page.get_by_role("link", name="Expenses").click()
    await page.get_by_role("button", name="Clear filters").click()
    gym = page.get_by_role("row").filter(has_text="Gym membership")
    due, month = 0, start
    while month <= today:  # the 19th-22nd of each month from start on (no month is shorter)
        due += 1
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=start.day)
    assert due >= 2
    await expect(gym).to_have_count(due)  # waits: the filters cleared, the list re-read
    await expect(gym.first).to_contain_text("recurring")

    await page.get_by_role("link", name="Recurring").click()
    await page.get_by_role("button", name="Pause Gym membership").click()
    await expect(page.get_by_role("row").filter(has_text="Gym membership")).to_contain_text(
        "paused"
    )

    # A description suggests its category (a new account: the built-in keywords).
    await page.get_by_role("link", name="Expenses").click()
    await page.get_by_role("button", name="Add expense").click()
    entry = page.locator("form.expense-form")
    await entry.get_by_label("Amount").fill("23.10")
    await entry.get_by_label("Description").fill("Uber to the airport")
    await entry.get_by_label("Amount").focus()  # leaving the description asks for a suggestion
    await expect(entry.get_by_label("Category")).to_have_value("travel")
    await expect(entry).to_contain_text("Suggested from your history")
    await entry.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("row").filter(has_text="Uber to the airport")).to_contain_text(
        "travel"
    )

    # The weekly summary's day is kept.
    await page.get_by_role("link", name="Settings").click()
    prefs = page.get_by_role("form", name="Notification preferences")
    await prefs.get_by_label("Weekly summary on").select_option("sunday")
    await prefs.get_by_role("button", name="Save preferences").click()
    await expect(page.get_by_text("Preferences saved.")).to_be_visible()
    await page.reload()
    await expect(
        page.get_by_role("form", name="Notification preferences").get_by_label("Weekly summary on")
    ).to_have_value("sunday")
    await watched.screenshot("21-settings-digest")
