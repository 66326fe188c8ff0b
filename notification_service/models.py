"""Request and response bodies of notification_service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
Hour = Annotated[int, Field(ge=0, le=23, description="0-23, in your time zone")]


class Preferences(BaseModel):
    """Stored preferences, with their defaults, and the body of PUT, which replaces them and
    so needs every field: a PUT of one field used to reset the others to their defaults."""

    model_config = ConfigDict(extra="forbid")

    in_app: Flag = True
    email: Flag = True
    weekly_digest: Flag = Field(default=True, description="a summary of your week")
    digest_weekday: Weekday = "monday"
    digest_hour: Hour = 8


class PreferencesIn(Preferences):
    in_app: Flag
    email: Flag
    weekly_digest: Flag
    digest_weekday: Weekday
    digest_hour: Hour


class PreferencesPatch(BaseModel):
    """PATCH: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    in_app: Flag | None = None
    email: Flag | None = None
    weekly_digest: Flag | None = None
    digest_weekday: Weekday | None = None
    digest_hour: Hour | None = None


class ReadAll(BaseModel):
    updated: int


# -- webhooks ----------------------------------------------------------------------------------

WebhookEvent = Literal[
    "expense.created",
    "expense.updated",
    "expense.deleted",
    "expenses.imported",
    "budget.upserted",
    "budget.deleted",
    "budget.threshold_reached",
]


def _unique_events(events: list[str]) -> list[str]:
    return list(dict.fromkeys(events))


WebhookEvents = Annotated[
    list[WebhookEvent], Field(min_length=1, max_length=7), AfterValidator(_unique_events)
]
WebhookUrl = Annotated[
    str, Field(min_length=8, max_length=2000, examples=["https://example.com/hook"])
]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    events: WebhookEvents
    description: Annotated[str, Field(max_length=200)] = ""


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl | None = None
    events: WebhookEvents | None = None
    description: Annotated[str, Field(max_length=200)] | None = None
    enabled: Flag | None = Field(default=None, description="true re-enables a disabled webhook")


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The signing secret (whsec_...): shown this once; verify each delivery's "
        "webhook-signature with it"
    )


class DeliveryAttempt(BaseModel):
    delivery_id: str = Field(description="the webhook-id header, the same on every retry")
    event_type: str
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class TestDelivery(BaseModel):
    delivery_id: str
