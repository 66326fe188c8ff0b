"""Events expense_service consumes: user.* for the local profiles (shared.users), budget.* to
know which expenses fall under a hard limit (shared.budgets, expense_service.limits)."""

from __future__ import annotations

from expense_service.storage import purge_user
from shared.budgets import BUDGET_COPY_HANDLERS
from shared.consumer import Subscriptions
from shared.users import user_directory_handlers

HANDLERS: Subscriptions = [
    *user_directory_handlers(purge_user),
    *BUDGET_COPY_HANDLERS,
]
