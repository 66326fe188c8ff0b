"""Events notification_service consumes: budget.threshold_reached becomes a notification (and an
email), user.registered a welcome, digest.compiled the weekly digest; user.* also keeps the
profiles (shared.users) and places each user's digest in their time zone (digest)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from notification_service.digest import reschedule
from notification_service.mailer import EmailRelay
from notification_service.storage import (
    add_notification,
    preferences_of,
    purge_user,
    queue_email,
)
from notification_service.texts import (
    alert_body,
    alert_email,
    alert_title,
    digest_texts,
    reset_email,
    welcome,
)
from notification_service.webhooks import WEBHOOK_EVENTS, queue_deliveries
from shared.consumer import EventContext, Subscriptions, on
from shared.events import (
    PAYLOAD_MODELS,
    BudgetThresholdReached,
    DigestCompiled,
    PasswordResetRequested,
    Payload,
    UserProfile,
    UserRegistered,
    UserUpdated,
)
from shared.uow import UnitOfWork
from shared.users import user_directory_handlers, user_profile

log = logging.getLogger(__name__)


async def on_threshold_reached(
    alert: BudgetThresholdReached,
    event: EventContext,
    uow: UnitOfWork,
    *,
    mailer: EmailRelay | None,
) -> None:
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
        queue_email(
            uow, user_id, profile["email"], subject, text, markup, event.id, queued=mailer.wake
        )


async def on_registered(
    user: UserRegistered, event: EventContext, uow: UnitOfWork, *, email_enabled: bool
) -> None:
    """The welcome note. (The profile itself is kept by the directory's own subscription to
    the same event; the factory runs both in one unit of work.)"""
    title, body = welcome(user.name, email_enabled=email_enabled)
    await add_notification(uow, user.user_id, "welcome", title, body, {})


async def on_digest(
    digest: DigestCompiled, event: EventContext, uow: UnitOfWork, *, mailer: EmailRelay | None
) -> None:
    """The week's digest, where the user wants it (and not at all if they turned it off since
    it was requested)."""
    user_id = event.user_id
    assert user_id is not None
    preferences = await preferences_of(uow.db, user_id, uow.session)
    if not preferences.weekly_digest:
        return
    title, body = digest_texts(digest)
    if preferences.in_app:
        await add_notification(
            uow, user_id, "weekly_digest", title, body, digest.model_dump(mode="json")
        )
    if preferences.email and mailer is not None:
        profile = await user_profile(uow.db, user_id)
        if profile is None:
            return  # the account is being deleted
        subject, text, markup = alert_email(title, body)
        queue_email(
            uow, user_id, profile["email"], subject, text, markup, event.id, queued=mailer.wake
        )


async def place_digest(user: UserProfile, event: EventContext, uow: UnitOfWork) -> None:
    """A new account's first digest, or a move to another time zone: by the profile as stored
    (the directory's subscription, just before, ignores news older than it has, and a deleted
    account has none), not by the event's own copy."""
    profile = await user_profile(uow.db, user.user_id)
    if profile is None:
        return
    preferences = await preferences_of(uow.db, user.user_id, uow.session)
    await reschedule(uow, user.user_id, profile["timezone"], preferences)


async def on_reset_requested(
    reset: PasswordResetRequested,
    event: EventContext,
    uow: UnitOfWork,
    *,
    mailer: EmailRelay | None,
    show_links: bool,
) -> None:
    """The reset link, by email whatever the notification preferences (the user asked for
    it). Without SMTP the link goes to the log in development only; in production the log
    says that no email could be sent, never the link."""
    if mailer is None:
        if show_links:
            log.warning("SMTP is not configured; password reset link: %s", reset.reset_url)
        else:
            log.error(
                "SMTP is not configured: the password reset email of user %s was not sent",
                reset.user_id,
            )
        return
    subject, text, markup = reset_email(reset.reset_url, reset.expires_at)
    queue_email(
        uow, reset.user_id, reset.email, subject, text, markup, event.id, queued=mailer.wake
    )


def webhook_handlers(queued: Callable[[], None]) -> Subscriptions:
    """Every type a webhook may subscribe to becomes deliveries for the subscribed webhooks."""

    async def deliver(payload: Payload, event: EventContext, uow: UnitOfWork) -> None:
        if event.user_id is not None:
            await queue_deliveries(
                uow,
                event.user_id,
                event.type.value,
                event.id,
                event.occurred_at,
                payload.model_dump(mode="json"),
                queued=queued,
            )

    # Replay-safe: nothing is written for a user without webhooks, and a repeat finds its
    # deliveries queued (queue_deliveries). budget.threshold_reached's notification is not, so
    # that type is still recorded.
    return [on(PAYLOAD_MODELS[t], deliver, replay_safe=True) for t in WEBHOOK_EVENTS]


def build_handlers(
    mailer: EmailRelay | None,
    *,
    show_links: bool = False,
    webhooks_queued: Callable[[], None] | None = None,
) -> Subscriptions:
    """``mailer``: None when SMTP is not configured at all. ``show_links``: log a reset link
    that could not be emailed (development only). ``webhooks_queued``: wakes the webhook
    sender (None: no webhooks, in tests of the rest)."""

    async def threshold_reached(
        alert: BudgetThresholdReached, event: EventContext, uow: UnitOfWork
    ) -> None:
        await on_threshold_reached(alert, event, uow, mailer=mailer)

    async def registered(user: UserRegistered, event: EventContext, uow: UnitOfWork) -> None:
        await on_registered(user, event, uow, email_enabled=mailer is not None)

    async def digest(digest: DigestCompiled, event: EventContext, uow: UnitOfWork) -> None:
        await on_digest(digest, event, uow, mailer=mailer)

    async def reset(reset: PasswordResetRequested, event: EventContext, uow: UnitOfWork) -> None:
        await on_reset_requested(reset, event, uow, mailer=mailer, show_links=show_links)

    return [
        *user_directory_handlers(purge_user),
        on(UserRegistered, registered),
        on(UserRegistered, place_digest),
        on(UserUpdated, place_digest),
        on(BudgetThresholdReached, threshold_reached),
        on(DigestCompiled, digest),
        on(PasswordResetRequested, reset),
        *(webhook_handlers(webhooks_queued) if webhooks_queued is not None else []),
    ]
