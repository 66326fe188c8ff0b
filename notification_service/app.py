"""notification_service app factory: ``uvicorn --factory notification_service.app:create_app``."""

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
from notification_service.routes import router
from notification_service.settings import Settings
from notification_service.storage import create_indexes
from shared.events import EventType
from shared.service import ServiceRuntime, create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    mailer = EmailRelay(settings) if settings.smtp_host else None
    live = LiveStreams()

    @contextlib.asynccontextmanager
    async def extra(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        app.state.live_streams = live
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
        yield

    return create_service_app(
        settings,
        title="notification_service",
        description="In-app notifications, live push (SSE), email and the weekly digest.",
        routers=[router],
        create_indexes=create_indexes,
        handlers=build_handlers(mailer),
        extra_lifespan=extra,
    )
