"""notification_service app factory: ``uvicorn --factory notification_service.app:create_app``."""

from __future__ import annotations

from fastapi import FastAPI

from notification_service.events import HANDLERS
from notification_service.routes import router
from notification_service.settings import Settings
from notification_service.storage import create_indexes
from shared.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        title="notification_service",
        description="In-app notifications, live push (SSE) and email.",
        routers=[router],
        create_indexes=create_indexes,
        handlers=HANDLERS,
    )
