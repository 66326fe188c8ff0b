"""Events budget_service consumes. user.* keeps the local user profiles (see shared.users)."""

from __future__ import annotations

from collections.abc import Mapping

from budget_service.storage import purge_user
from shared.consumer import Handler
from shared.events import EventType
from shared.users import user_directory_handlers

HANDLERS: Mapping[EventType, Handler] = {**user_directory_handlers(purge_user)}
