"""Events notification_service consumes: budget.threshold_reached becomes a notification (and an
email), user.registered a welcome; user.* also keeps the profiles (shared.users)."""

from __future__ import annotations

from collections.abc import Mapping

from notification_service.mailer import EmailRelay
from notification_service.storage import (
    add_notification,
    preferences_of,
    purge_user,
    queue_email,
)
from notification_service.texts import alert_body, alert_email, alert_title, welcome
from shared.consumer import Handler
from shared.events import BudgetThresholdReached, EventEnvelope, EventType, UserRegistered
from shared.outbox import UnitOfWork
from shared.users import user_directory_handlers, user_profile

DIRECTORY = user_directory_handlers(purge_user)


async def on_threshold_reached(
    event: EventEnvelope, uow: UnitOfWork, *, mailer: EmailRelay | None
) -> None:
    alert = event.payload()
    assert isinstance(alert, BudgetThresholdReached)
    user_id = event.user_id
    assert user_id is not None
    preferences = await preferences_of(uow.db, user_id, uow.session)
    title, body = alert_title(alert), alert_body(alert)
    if preferences.in_app:
        await add_notification(
            uow, user_id, "budget.threshold_reached", title, body, alert.model_dump(mode="json")
        )
    if preferences.email and mailer is not None:
        profile = await user_profile(uow.db, user_id)
        if profile is None:
            raise LookupError(f"profile of {user_id} not known yet")  # retried shortly
        subject, text, markup = alert_email(title, body)
        await queue_email(
            uow, user_id, profile["email"], subject, text, markup, event.id, queued=mailer.wake
        )


async def on_registered(event: EventEnvelope, uow: UnitOfWork, *, email_enabled: bool) -> None:
    await DIRECTORY[EventType.USER_REGISTERED](event, uow)
    user = event.payload()
    assert isinstance(user, UserRegistered)
    title, body = welcome(user.name, email_enabled=email_enabled)
    await add_notification(uow, user.user_id, "welcome", title, body, {})


def build_handlers(mailer: EmailRelay | None) -> Mapping[EventType, Handler]:
    """``mailer``: None when SMTP is not configured at all."""

    async def threshold_reached(event: EventEnvelope, uow: UnitOfWork) -> None:
        await on_threshold_reached(event, uow, mailer=mailer)

    async def registered(event: EventEnvelope, uow: UnitOfWork) -> None:
        await on_registered(event, uow, email_enabled=mailer is not None)

    return {
        **DIRECTORY,
        EventType.USER_REGISTERED: registered,
        EventType.BUDGET_THRESHOLD_REACHED: threshold_reached,
    }
