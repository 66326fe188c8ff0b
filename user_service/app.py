"""user_service app factory: ``uvicorn --factory user_service.app:create_app``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from shared.service import ServiceRuntime, create_service_app
from user_service.events import HANDLERS
from user_service.keys import load_signing_key
from user_service.ledger_client import ExpenseLedgerClient
from user_service.passwords import PasswordHasher
from user_service.routes import auth, keys, users
from user_service.settings import Settings
from user_service.storage import create_indexes
from user_service.tokens import TokenIssuer


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    signing_key = load_signing_key(settings)

    @contextlib.asynccontextmanager
    async def extra(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        app.state.password_hasher = PasswordHasher(
            settings.bcrypt_rounds,
            settings.bcrypt_concurrency,
            queue_limit=settings.bcrypt_queue_limit,
            queue_seconds=settings.bcrypt_queue_seconds,
        )
        async with httpx.AsyncClient(timeout=settings.expense_service_timeout) as http:
            app.state.expense_ledger = ExpenseLedgerClient(http, settings.expense_service_url)
            yield

    app = create_service_app(
        settings,
        title="user_service",
        description="Accounts, sessions and access tokens.",
        routers=[auth, users, keys],
        create_indexes=create_indexes,
        handlers=HANDLERS,
        key_lookup=signing_key.lookup,
        # It issues the tokens and reads the account (with its token version) on every request.
        track_revocations=False,
        extra_lifespan=extra,
    )
    app.state.signing_key = signing_key
    app.state.token_issuer = TokenIssuer(signing_key, settings)
    return app
