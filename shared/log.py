"""JSON logs with the request id of the call (or event) being handled on every line.

The id comes from the gateway's ``X-Request-ID`` header, travels to services on proxied requests,
and into the AMQP ``correlation_id`` of every event written while handling that request.
"""

from __future__ import annotations

import logging
import sys
import uuid
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


class _RequestIdFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.service = self.service
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_RequestIdFilter(service))
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{service}{request_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Access lines duplicate our own request logging and carry no request id.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    # fpdf2's font subsetting (analytics' PDF statement) logs each font table at INFO: about
    # 45 lines per statement, most of analytics_service's log.
    logging.getLogger("fontTools").setLevel(logging.WARNING)


class RequestIdMiddleware:
    """Adopts the caller's ``X-Request-ID`` (or makes one) and echoes it on the response.

    Pure ASGI rather than ``BaseHTTPMiddleware`` so streamed responses are not buffered.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode())
        request_id = _sanitise(incoming.decode("latin-1")) if incoming else None
        request_id = request_id or new_request_id()
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def _sanitise(value: str) -> str | None:
    # A caller-chosen id lands in logs: keep it short and printable.
    value = value.strip()[:64]
    return value if value and all(c.isalnum() or c in "-_." for c in value) else None
