"""The one app factory behind every service, so that knowing one service means knowing all.

A service supplies its settings, routers, indexes and event handlers; this module gives it
logging with request ids, metrics, ``/health`` and ``/ready``, a Mongo client, the event bus, the
outbox relay, an idempotent consumer on its own queue, and token verification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from shared import clock
from shared.auth import JwksKeys, KeyLookup, TokenVerifier
from shared.bus import EventBus, RabbitEventBus
from shared.consumer import (
    IdempotentConsumer,
    Subscriptions,
    create_consumer_indexes,
)
from shared.errors import DomainError
from shared.events import EventType
from shared.health import ReadinessCheck, health_router
from shared.log import RequestIdMiddleware, configure_logging
from shared.metrics import MetricsMiddleware, metrics_router
from shared.mongo import Database, IndexSetup, Mongo, UnsupportedServerError
from shared.outbox import OutboxRelay, create_outbox_indexes
from shared.problems import (
    UnexpectedErrorMiddleware,
    domain_problem,
    install_problem_schema,
    problem,
    validation_summary,
)
from shared.revocations import REVOCATION_EVENTS, Revocations, create_revocation_indexes
from shared.settings import ServiceSettings
from shared.uow import Transactions

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 60.0
T = TypeVar("T")


@dataclass(frozen=True)
class OnDemand:
    """Event types a service handles but binds its queue to only once something asks for them
    (then for good, shared.bus.bind): until a webhook subscribes to expense events, say,
    notification_service need not take every expense event only to find nobody wants it.
    ``wanted(db)``: those asked for so far, bound at start. Only for types other services'
    queues take anyway: an event no queue takes is returned to its publisher (the bus publishes
    with ``mandatory``), whose outbox would retry it."""

    types: frozenset[EventType]
    wanted: Callable[[Database], Awaitable[set[EventType]]]


@dataclass
class ServiceRuntime:
    settings: ServiceSettings
    mongo: Mongo
    bus: EventBus
    transactions: Transactions
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)
    background: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def db(self) -> Database:
        return self.mongo.db


ExtraLifespan = Callable[[FastAPI, ServiceRuntime], AbstractAsyncContextManager[None]]


async def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    create_indexes: IndexSetup,
    handlers: Subscriptions,
    key_lookup: KeyLookup | None = None,
    track_revocations: bool = True,
    emits_events: bool = True,
    extra_lifespan: ExtraLifespan | None = None,
    on_demand: OnDemand | None = None,
    lane: Callable[[ASGIApp], ASGIApp] | None = None,
    **fastapi_options: Any,
) -> FastAPI:
    """``track_revocations``: keep the revoked-token state in memory and refuse those tokens
    (every process that verifies tokens, except user_service, which reads the account itself).
    ``emits_events``: run the outbox relay; a service that never emits never reads an outbox.
    ``lane``: the innermost middleware, for paths served without FastAPI's router because they
    are hot or held open (the gateway's ``/api/*``, the live stream); request ids, metrics and
    the 500 problem still wrap it."""
    configure_logging(settings.service_name, settings.log_level)
    if settings.clock_start is not None:
        clock.start_at(settings.clock_start)
    revocations = Revocations() if track_revocations else None
    if revocations is not None:
        handlers = [*handlers, *revocations.handlers()]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mongo = Mongo(settings.mongodb_url, settings.mongodb_db)
        bus = RabbitEventBus(
            settings.amqp_url,
            settings.events_exchange,
            client_name=settings.service_name,
            prefetch=settings.consumer_prefetch,
            delivery_limit=settings.delivery_limit,
        )
        relay = OutboxRelay(mongo, bus)
        relaying = emits_events and settings.outbox_relay_enabled
        transactions = Transactions(
            mongo, producer=settings.service_name, on_commit=relay.committed if relaying else None
        )
        runtime = ServiceRuntime(settings, mongo, bus, transactions)
        runtime.readiness = {"mongodb": mongo.ping, "rabbitmq": _async_bool(bus.is_connected)}
        app.state.runtime = runtime
        app.state.revocations = revocations
        app.state.token_verifier = TokenVerifier(
            key_lookup or JwksKeys(settings.jwks_url),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        await _retry_until_up("MongoDB", mongo.check_server)
        await _retry_until_up("MongoDB", lambda: _setup_indexes(mongo.db, create_indexes))
        await _retry_until_up("RabbitMQ", bus.connect)
        if revocations is not None:
            # Listen first, then load: a revocation published in between is heard either way.
            process_queue = (
                f"{settings.queue_prefix}{settings.service_name}.broadcast.{uuid.uuid4().hex}"
            )
            await bus.broadcast(process_queue, REVOCATION_EVENTS, revocations.on_broadcast)
            await _retry_until_up("MongoDB", lambda: revocations.load(mongo.db))
            runtime.readiness["revocations"] = _async_bool(lambda: revocations.loaded)
            runtime.background.append(
                asyncio.create_task(revocations.keep_loading(mongo.db), name="revocations")
            )
        if handlers:
            consumer = IdempotentConsumer(transactions, handlers)
            bound = set(consumer.event_types)
            if on_demand is not None:
                wanted: set[EventType] = set()

                async def read_wanted(demand: OnDemand = on_demand) -> None:
                    wanted.update(await demand.wanted(mongo.db))

                await _retry_until_up("MongoDB", read_wanted)
                bound = (bound - on_demand.types) | (bound & on_demand.types & wanted)
            await bus.consume(settings.queue_name, sorted(bound), consumer.on_message)
        if relaying:
            runtime.background.append(asyncio.create_task(relay.run(), name="outbox"))
        log.info("%s started", settings.service_name)
        try:
            if extra_lifespan is None:
                yield
            else:
                async with extra_lifespan(app, runtime):
                    yield
        finally:
            for task in runtime.background:
                task.cancel()
            await asyncio.gather(*runtime.background, return_exceptions=True)
            await bus.close()
            await mongo.close()
            log.info("%s stopped", settings.service_name)

    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        **fastapi_options,
    )
    if lane is not None:
        app.add_middleware(lane)  # added first: the innermost
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    install_problem_schema(app)
    app.include_router(health_router(lambda: app.state.runtime.readiness))
    app.include_router(metrics_router())
    for router in routers:
        app.include_router(router)
    return app


async def _setup_indexes(db: Database, create_indexes: IndexSetup) -> None:
    await create_outbox_indexes(db)
    await create_consumer_indexes(db)
    await create_revocation_indexes(db)
    await create_indexes(db)


async def _retry_until_up(what: str, attempt: Callable[[], Awaitable[Any]]) -> None:
    """Dependencies may start after us (compose, the launcher): wait for them, within reason."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
    delay = 0.25
    while True:
        try:
            await attempt()
            return
        except UnsupportedServerError:
            raise
        except Exception as exc:
            if loop.time() > deadline:
                raise RuntimeError(
                    f"{what} unreachable for {STARTUP_TIMEOUT_SECONDS:.0f}s"
                ) from exc
            log.warning("waiting for %s: %r", what, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _async_bool(check: Callable[[], bool]) -> ReadinessCheck:
    async def run() -> bool:
        return check()

    return run


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in {204, 304}:
        return Response(status_code=exc.status_code, headers=exc.headers)
    return problem(exc.status_code, str(exc.detail), headers=exc.headers)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return domain_problem(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    return problem(422, validation_summary(errors), errors=errors)
