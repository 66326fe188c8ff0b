"""notification_service app factory: ``uvicorn --factory notification_service.app:create_app``.

Run it with ``python -m shared.server notification_service`` (as the image and the launcher do):
only that server tells the app it is stopping, so its live streams end at once on SIGTERM;
under plain uvicorn, which has no shutdown grace period by default, open streams hold it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from fastapi import FastAPI

from notification_service.digest import DigestScheduler
from notification_service.events import build_handlers
from notification_service.live import LiveStreams
from notification_service.mailer import EmailRelay
from notification_service.routes import StreamLane, router, webhooks
from notification_service.settings import Settings
from notification_service.storage import create_indexes
from notification_service.webhooks import (
    WEBHOOK_ONLY_EVENTS,
    WebhookSender,
    WebhookSettings,
    subscribed_events,
)
from shared.events import EventType
from shared.service import OnDemand, ServiceRuntime, create_service_app
from shared.streaming import when_stopping


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    mailer = EmailRelay(settings) if settings.smtp_host else None
    live = LiveStreams()
    development = settings.environment == "development"
    sender = WebhookSender(
        WebhookSettings(
            development=development,
            timeout_seconds=settings.webhook_timeout_seconds,
            retry_seconds=settings.webhook_retry_seconds,
            disable_after=settings.webhook_disable_after,
            concurrency=settings.webhook_concurrency,
        )
    )

    @contextlib.asynccontextmanager
    async def extra(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        app.state.live_streams = live
        app.state.webhook_sender = sender
        runtime.background.append(
            asyncio.create_task(sender.run(runtime.db, runtime.transactions), name="webhooks")
        )
        await runtime.bus.broadcast(
            f"{settings.queue_prefix}notification_service.live.{uuid.uuid4().hex}",
            [EventType.NOTIFICATION_CREATED],
            live.on_broadcast,
        )
        if mailer is not None:
            runtime.background.append(asyncio.create_task(mailer.run(runtime.db), name="email"))
        digests = DigestScheduler(runtime.db, runtime.transactions, settings.digest_horizon_seconds)
        await digests.backfill()
        runtime.background.append(
            asyncio.create_task(digests.scheduler.run(), name="weekly digest")
        )
        with when_stopping(live.close_all):
            yield

    return create_service_app(
        settings,
        title="notification_service",
        description="In-app notifications, live push (SSE), email, the weekly digest and webhooks.",
        routers=[router, webhooks],
        create_indexes=create_indexes,
        handlers=build_handlers(mailer, show_links=development, webhooks_queued=sender.wake),
        extra_lifespan=extra,
        on_demand=OnDemand(WEBHOOK_ONLY_EVENTS, subscribed_events),
        lane=StreamLane,  # the live stream skips the router
    )
