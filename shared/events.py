"""Every event of the system: its type (which is its routing key), its payload model, its envelope.

"Who publishes and who consumes X" is one grep for the ``EventType`` member. Producers and
consumers are listed beside each type; the payload models are the contract other services see.
"""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


class EventType(StrEnum):
    # producer user_service; consumers: notification (welcome, address), expense/budget (currency,
    # timezone); every service purges on user.deleted; gateway refuses tokens after these two.
    USER_REGISTERED = "user.registered"
    USER_UPDATED = "user.updated"
    USER_DELETED = "user.deleted"
    USER_TOKENS_REVOKED = "user.tokens_revoked"
    # producer user_service; consumer notification_service, which emails the reset link.
    USER_PASSWORD_RESET_REQUESTED = "user.password_reset_requested"  # noqa: S105
    # producer expense_service (recurring occurrences too); consumers budget_service,
    # analytics_service, expense_service (suggestions learn), notification_service (webhooks).
    EXPENSE_CREATED = "expense.created"
    EXPENSE_UPDATED = "expense.updated"
    EXPENSE_DELETED = "expense.deleted"
    # producer expense_service (CSV import, one per batch of rows; a recurring catch-up);
    # consumers budget, analytics, notification (webhooks).
    EXPENSES_IMPORTED = "expenses.imported"
    # producer budget_service; consumers analytics_service, notification_service (thresholds
    # become notifications; all three may go to webhooks), expense_service (hard limits).
    BUDGET_UPSERTED = "budget.upserted"
    BUDGET_DELETED = "budget.deleted"
    BUDGET_THRESHOLD_REACHED = "budget.threshold_reached"
    # producer notification_service; consumer: every notification_service process (a broadcast
    # queue each), which pushes it to the live streams it holds for that user.
    NOTIFICATION_CREATED = "notification.created"
    # The weekly digest. producer notification_service (its scheduler: the user's weekday and
    # hour, once per week); consumer analytics_service, which answers with digest.compiled.
    DIGEST_REQUESTED = "digest.requested"
    # producer analytics_service; consumer notification_service (feed, live, email).
    DIGEST_COMPILED = "digest.compiled"

    @property
    def routing_key(self) -> str:
        return self.value


class Payload(BaseModel):
    """An event's data. Each concrete payload names its ``event_type``: the payload class is
    the event, so handlers are registered by it and receive it typed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[EventType]


class UserProfile(Payload):
    """What other services may keep of a user: enough to address and localise them."""

    user_id: str
    email: str
    name: str | None = None
    currency: str
    timezone: str


class UserRegistered(UserProfile):
    event_type = EventType.USER_REGISTERED


class UserUpdated(UserProfile):
    event_type = EventType.USER_UPDATED


class UserDeleted(Payload):
    event_type = EventType.USER_DELETED
    user_id: str


class UserTokensRevoked(Payload):
    """Access tokens whose ``tv`` claim is below ``token_version`` are refused from now on."""

    event_type = EventType.USER_TOKENS_REVOKED

    user_id: str
    token_version: int
    reason: str


class PasswordResetRequested(Payload):
    """Someone asked to reset this account's password: email ``reset_url`` to ``email``. The
    link is a secret that works once, until ``expires_at``."""

    event_type = EventType.USER_PASSWORD_RESET_REQUESTED

    user_id: str
    email: str
    reset_url: str
    expires_at: datetime


class ExpenseSnapshot(Payload):
    """An expense as it stands at one ``version``. Amounts are decimal strings on the wire;
    ``base_amount`` is in the user's own currency, which budgets and analytics count in."""

    expense_id: str
    version: int
    kind: Literal["expense", "income"]
    amount: Decimal
    currency: str
    base_amount: Decimal
    category: str
    date: dt.date
    tags: list[str]
    description: str


class ExpenseCreated(ExpenseSnapshot):
    event_type = EventType.EXPENSE_CREATED


class ExpensesImported(Payload):
    """Expenses created together by one batch of a CSV import (at most a few hundred), each as
    ``expense.created`` would carry it. One event per batch, not per row, so that consumers
    apply an import of 50,000 rows in a hundred transactions rather than 50,000."""

    event_type = EventType.EXPENSES_IMPORTED

    expenses: list[ExpenseSnapshot] = Field(min_length=1)


class ExpenseUpdated(ExpenseSnapshot):
    """The expense after the change, and as it was just before it."""

    event_type = EventType.EXPENSE_UPDATED

    previous: ExpenseSnapshot


class ExpenseDeleted(ExpenseSnapshot):
    """The expense as it was when deleted; ``version`` is one past its last change."""

    event_type = EventType.EXPENSE_DELETED


class BudgetUpserted(Payload):
    """A budget as it now stands. ``category`` null: all categories together."""

    event_type = EventType.BUDGET_UPSERTED

    budget_id: str
    month: str
    category: str | None
    amount: Decimal
    thresholds: list[Decimal]
    repeat: bool
    hard_limit: bool
    version: int


class BudgetDeleted(Payload):
    event_type = EventType.BUDGET_DELETED

    budget_id: str
    month: str
    category: str | None


class BudgetThresholdReached(Payload):
    """Spending in ``month`` crossed ``threshold`` (0.8 = 80%) of the budget, upwards."""

    event_type = EventType.BUDGET_THRESHOLD_REACHED

    budget_id: str
    month: str
    category: str | None
    threshold: Decimal
    spent: Decimal
    limit: Decimal
    percent: Decimal
    currency: str


class NotificationCreated(Payload):
    """A notification entered the user's feed at ``seq`` (the live stream's event id)."""

    event_type = EventType.NOTIFICATION_CREATED

    notification_id: str
    seq: int
    kind: str


class DigestRequested(Payload):
    """The weekly digest of the 7 days ``start`` to ``end`` (the user's calendar) is due.
    ``digest_id`` names that user's week: at most one digest is requested per id."""

    event_type = EventType.DIGEST_REQUESTED

    digest_id: str
    start: dt.date
    end: dt.date


class DigestCategory(BaseModel):
    category: str
    spent: Decimal
    previous: Decimal = Field(description="the week before")
    change_percent: Decimal | None = Field(description="null when the week before was 0")


class DigestBudget(BaseModel):
    category: str | None
    limit: Decimal
    spent: Decimal
    projected: Decimal
    reaches_limit_on: dt.date | None
    text: str


class DigestExpense(BaseModel):
    expense_id: str
    date: dt.date
    category: str
    description: str
    amount: Decimal
    typical: Decimal


class DigestCompiled(Payload):
    """The weekly digest's content, in the user's currency (null when not known yet)."""

    event_type = EventType.DIGEST_COMPILED

    digest_id: str
    start: dt.date
    end: dt.date
    currency: str | None
    spent: Decimal
    income: Decimal
    top_categories: list[DigestCategory]
    budgets_at_risk: list[DigestBudget]
    unusual: list[DigestExpense]


PAYLOAD_MODELS: dict[EventType, type[Payload]] = {
    model.event_type: model
    for model in (
        UserRegistered,
        UserUpdated,
        UserDeleted,
        UserTokensRevoked,
        PasswordResetRequested,
        ExpenseCreated,
        ExpenseUpdated,
        ExpenseDeleted,
        ExpensesImported,
        BudgetUpserted,
        BudgetDeleted,
        BudgetThresholdReached,
        NotificationCreated,
        DigestRequested,
        DigestCompiled,
    )
}


class EventEnvelope(BaseModel):
    """The one message shape on the bus. AMQP ``message_id`` is ``id``; ``type`` is the key."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: EventType
    version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: str
    user_id: str | None = None
    data: dict[str, Any]

    @classmethod
    def of(cls, payload: Payload, *, producer: str, user_id: str | None) -> EventEnvelope:
        registered = type(payload) in PAYLOAD_MODELS.values()
        if not registered:
            raise TypeError(f"{type(payload).__name__} is not a registered event payload")
        return cls(
            type=payload.event_type,
            producer=producer,
            user_id=user_id,
            data=payload.model_dump(mode="json"),
        )

    def payload(self) -> Payload:
        """The typed payload; raises ``ValidationError`` for a malformed message."""
        return PAYLOAD_MODELS[self.type].model_validate(self.data)
