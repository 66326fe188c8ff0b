"""expense_service app factory: ``uvicorn --factory expense_service.app:create_app``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from expense_service import counts
from expense_service.events import handlers
from expense_service.imports import ImportJobs
from expense_service.internal import internal
from expense_service.ledger import Ledger
from expense_service.limits import HardLimits
from expense_service.recurring import RecurringRules
from expense_service.routes import categories, expenses, recurring
from expense_service.settings import Settings
from expense_service.storage import backfill_accounts, create_indexes
from expense_service.suggest import Suggester, load_prior
from shared.scheduler import Scheduler
from shared.service import ServiceRuntime, create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    prior = load_prior()

    @contextlib.asynccontextmanager
    async def extra(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=settings.budget_service_timeout) as http:
            app.state.hard_limits = HardLimits(runtime.db, http, settings.budget_service_url)
            app.state.import_jobs = ImportJobs()
            app.state.suggester = Suggester(runtime.db, prior)
            app.state.file_at = settings.file_at_confidence
            # Occurrences are written by the ledger, as a client's expenses are (hard limits
            # aside: a rule records what happens by arrangement, so nothing refuses it).
            ledger = Ledger(runtime.db, runtime.transactions, app.state.hard_limits)
            rules = RecurringRules(ledger)
            scheduler = Scheduler("recurring", rules.tick, settings.recurring_horizon_seconds)
            rules.scheduler = app.state.recurring_scheduler = scheduler
            runtime.background.append(asyncio.create_task(scheduler.run(), name="recurring"))
            await backfill_accounts(runtime.db, runtime.transactions, app.state.suggester.learn)
            await counts.backfill(runtime.db, runtime.transactions)
            yield

    return create_service_app(
        settings,
        title="expense_service",
        description="Expenses and income, categories, CSV import and export, recurring rules, "
        "category suggestions.",
        routers=[expenses, categories, recurring, internal],
        create_indexes=create_indexes,
        handlers=handlers(prior),
        extra_lifespan=extra,
    )
