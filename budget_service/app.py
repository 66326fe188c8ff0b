"""budget_service app factory: ``uvicorn --factory budget_service.app:create_app``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from budget_service.events import HANDLERS
from budget_service.expense_client import ExpenseServiceClient
from budget_service.routes import budgets, internal, shorthand
from budget_service.settings import Settings
from budget_service.storage import create_indexes
from shared.service import ServiceRuntime, create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def extra(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=settings.expense_service_timeout) as http:
            app.state.expense_service = ExpenseServiceClient(http, settings.expense_service_url)
            yield

    return create_service_app(
        settings,
        title="budget_service",
        description="Monthly budgets, status, threshold alerts and hard limits.",
        routers=[budgets, shorthand, internal],
        create_indexes=create_indexes,
        handlers=HANDLERS,
        extra_lifespan=extra,
    )
