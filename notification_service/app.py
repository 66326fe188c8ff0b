"""notification_service app factory: ``uvicorn --factory notification_service.app:create_app``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from notification_service.events import build_handlers
from notification_service.mailer import EmailRelay
from notification_service.routes import router
from notification_service.settings import Settings
from notification_service.storage import create_indexes
from shared.service import ServiceRuntime, create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def extra(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        if settings.smtp_host:
            relay = EmailRelay(runtime.db, settings)
            runtime.background.append(asyncio.create_task(relay.run(), name="email"))
        yield

    return create_service_app(
        settings,
        title="notification_service",
        description="In-app notifications, live push (SSE) and email.",
        routers=[router],
        create_indexes=create_indexes,
        handlers=build_handlers(email_enabled=bool(settings.smtp_host)),
        extra_lifespan=extra,
    )
