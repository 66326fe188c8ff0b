"""analytics_service app factory: ``uvicorn --factory analytics_service.app:create_app``."""

from __future__ import annotations

from fastapi import FastAPI

from analytics_service.events import HANDLERS
from analytics_service.routes import router
from analytics_service.settings import Settings
from analytics_service.storage import create_indexes
from shared.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        title="analytics_service",
        description="Summaries, trends, budget vs actual, insights, forecasts and the weekly "
        "digest's content.",
        routers=[router],
        create_indexes=create_indexes,
        handlers=HANDLERS,
    )
