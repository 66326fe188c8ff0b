"""Events expense_service consumes: user.* for the local profiles (shared.users), budget.* to
know which expenses fall under a hard limit (expense_service.limits)."""

from __future__ import annotations

from collections.abc import Mapping

from expense_service.limits import on_budget_deleted, on_budget_upserted
from expense_service.storage import purge_user
from shared.consumer import Handler
from shared.events import EventType
from shared.users import user_directory_handlers

HANDLERS: Mapping[EventType, Handler] = {
    **user_directory_handlers(purge_user),
    EventType.BUDGET_UPSERTED: on_budget_upserted,
    EventType.BUDGET_DELETED: on_budget_deleted,
}
