"""What notifications and emails say, in the user's currency."""

from __future__ import annotations

import html
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from shared.events import BudgetThresholdReached, DigestCompiled


def month_name(month: str) -> str:
    year, number = month.split("-")
    names = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ]
    return f"{names[int(number) - 1]} {year}"


def budget_name(category: str | None) -> str:
    return "overall" if category is None else category.capitalize()


def alert_title(alert: BudgetThresholdReached) -> str:
    """Titles are sentence case ("Overall budget exceeded") and name the threshold that fired;
    budget_service sends only the highest threshold a change crosses, so the body's percentage
    is at or above it."""
    name = budget_name(alert.category)
    title_name = name[:1].upper() + name[1:]
    if alert.threshold == 1:
        return f"{title_name} budget {'exceeded' if alert.spent > alert.limit else 'used up'}"
    return f"{title_name} budget at {alert.threshold * 100:.0f}%"


def alert_body(alert: BudgetThresholdReached) -> str:
    percent = alert.percent.quantize(Decimal("1"), rounding=ROUND_HALF_UP)
    return (
        f"You've used {percent}% of your {budget_name(alert.category)} budget for "
        f"{month_name(alert.month)}: {alert.spent} of {alert.limit} {alert.currency}."
    )


def welcome(name: str | None, *, email_enabled: bool) -> tuple[str, str]:
    """Promises email alerts only when this installation can send email."""
    greeting = f"Welcome, {name}!" if name else "Welcome!"
    channels = "here, live, and by email" if email_enabled else "here and live"
    return greeting, (
        "Record what you spend, set a monthly budget, and you will hear from us "
        f"{channels} when you reach 80% and 100% of it."
    )


def alert_email(title: str, body: str) -> tuple[str, str, str]:
    """Subject, plain text and simple HTML of an alert email."""
    text = f"{body}\n\nSee your budgets in Expense Tracker.\n"
    markup = (
        f"<html><body><h2>{html.escape(title)}</h2><p>{html.escape(body)}</p>"
        "<p>See your budgets in Expense Tracker.</p></body></html>"
    )
    return title, text, markup


def digest_texts(digest: DigestCompiled) -> tuple[str, str]:
    """Title and body of the weekly digest."""
    unit = f" {digest.currency}" if digest.currency else ""
    span = f"{digest.start:%-d %b} - {digest.end:%-d %b}"
    title = f"Your week, {span}: {digest.spent}{unit} spent"
    lines = [f"Spent {digest.spent}{unit}, income {digest.income}{unit}."]
    if digest.top_categories:
        tops = []
        for top in digest.top_categories:
            change = (
                f"{top.change_percent:+}% on the week before"
                if top.change_percent is not None
                else "none the week before"
            )
            tops.append(f"{top.category} {top.spent}{unit} ({change})")
        lines.append("Top categories: " + "; ".join(tops) + ".")
    for budget in digest.budgets_at_risk:
        lines.append(f"Budget at risk: {budget.text}")
    for expense in digest.unusual:
        what = expense.description or expense.category
        lines.append(
            f"Unusual: {expense.amount}{unit} on {expense.date:%-d %b} ({what}), where you "
            f"typically spend {expense.typical}{unit}."
        )
    return title, "\n".join(lines)


def reset_email(link: str, expires_at: datetime) -> tuple[str, str, str]:
    """Subject, plain text and HTML of the password reset email."""
    subject = "Reset your Expense Tracker password"
    until = f"{expires_at:%H:%M} UTC"
    text = (
        "Someone (we hope you) asked to reset the password of your Expense Tracker account.\n\n"
        f"Set a new password here (the link works once, until {until}):\n{link}\n\n"
        "If it was not you, ignore this email: your password stays as it is.\n"
    )
    safe = html.escape(link, quote=True)
    markup = (
        "<html><body><p>Someone (we hope you) asked to reset the password of your Expense "
        f'Tracker account.</p><p><a href="{safe}">Set a new password</a> (the link works once, '
        f"until {until}).</p><p>If it was not you, ignore this email: your password stays as "
        "it is.</p></body></html>"
    )
    return subject, text, markup
