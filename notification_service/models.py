"""Request and response bodies of notification_service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.types import Flag


class NotificationOut(BaseModel):
    id: str
    type: str
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    total: int
    limit: int
    offset: int


class UnreadCount(BaseModel):
    count: int


class Preferences(BaseModel):
    """Stored preferences (both true by default), and the body of PUT, which replaces them
    and so needs both: a PUT of one field used to reset the other to its default."""

    model_config = ConfigDict(extra="forbid")

    in_app: Flag = True
    email: Flag = True


class PreferencesIn(Preferences):
    in_app: Flag
    email: Flag


class PreferencesPatch(BaseModel):
    """PATCH: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    in_app: Flag | None = None
    email: Flag | None = None


class ReadAll(BaseModel):
    updated: int
