"""expense_service app factory: ``uvicorn --factory expense_service.app:create_app``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from expense_service.events import HANDLERS
from expense_service.imports import ImportJobs
from expense_service.internal import internal
from expense_service.limits import HardLimits
from expense_service.routes import categories, expenses
from expense_service.settings import Settings
from expense_service.storage import create_indexes
from shared.service import ServiceRuntime, create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def extra(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=settings.budget_service_timeout) as http:
            app.state.hard_limits = HardLimits(runtime.db, http, settings.budget_service_url)
            app.state.import_jobs = ImportJobs()
            yield

    return create_service_app(
        settings,
        title="expense_service",
        description="Expenses and income, categories, CSV import and export.",
        routers=[expenses, categories, internal],
        create_indexes=create_indexes,
        handlers=HANDLERS,
        extra_lifespan=extra,
    )
