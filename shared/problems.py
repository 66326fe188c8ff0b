"""One error shape everywhere: RFC 9457 problem details, also documented in every OpenAPI schema.

Every error a service or the gateway sends is ``application/problem+json``::

    {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no expense 42"}

``detail`` is always one readable string. A request that fails validation also carries
``errors``: FastAPI's list of field errors (``loc``, ``msg``, ``type``), so clients keep a
machine-readable answer while the shape stays the same for every status.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pymongo.errors import ConnectionFailure
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import DomainError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# How long a client is asked to wait when the database cannot be reached: about the time the
# driver itself waits for a server before giving up (shared.mongo's serverSelectionTimeoutMS).
DATABASE_RETRY_AFTER_SECONDS = 5
# The statuses a client can meet on any operation; each is documented with the Problem schema.
COMMON_ERROR_STATUSES = (400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 500, 502, 503, 504)


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An error (RFC 9457). ``detail`` says what went wrong in words; ``errors`` lists the
    fields that failed validation, when that is the cause."""

    type: str = Field(default="about:blank", description="A URI naming the kind of problem")
    title: str = Field(description="The HTTP status phrase")
    status: int
    detail: str
    errors: list[FieldError] | None = None


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _title(status),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = _json_safe(jsonable_encoder(list(errors)))
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def domain_problem(exc: DomainError) -> ProblemResponse:
    """The answer to a refusal of the business logic, in its own status and words."""
    return problem(exc.status, exc.detail, headers=exc.headers)


class UnexpectedErrorMiddleware:
    """Answers an unhandled exception with a problem 500, and does not re-raise it; the
    database out of reach (no server to select, a connection lost mid-request) with a 503 and
    ``Retry-After`` instead: nothing is wrong with the request and it may be sent again later
    (a connection lost during a commit leaves its outcome unknown: a create sent again with the
    same ``Idempotency-Key`` cannot be made twice).

    Starlette's handler for ``Exception`` re-raises after answering, and uvicorn then closes the
    keep-alive connection under the gateway's pool: the gateway's next request on it failed as a
    502 for some other user. Added innermost, so metrics still count the 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ConnectionFailure as exc:
            log.warning(
                "database unreachable on %s %s: %r", scope.get("method"), scope.get("path"), exc
            )
            if started:
                raise
            unavailable = problem(
                503,
                "the database cannot be reached right now; try again shortly",
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            )
            await unavailable(scope, receive, send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # half an answer is out; only closing the connection is left
            await problem(500, "internal error")(scope, receive, send)


def validation_summary(errors: Sequence[Mapping[str, Any]]) -> str:
    """FastAPI's error list as one sentence: ``body.amount: Input should be ...; ...``."""
    parts = []
    for error in errors:
        loc = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{loc}: {error.get('msg', 'invalid')}" if loc else str(error.get("msg")))
    return "; ".join(parts) or "invalid request"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _json_safe(value: Any) -> Any:
    """Echoed inputs such as NaN or Infinity (which JSON cannot carry) become strings instead of
    failing the error response itself."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def install_problem_schema(app: FastAPI) -> None:
    """Documents the Problem shape for every error status of every operation, replacing
    FastAPI's ``HTTPValidationError`` (whose ``detail`` is a list, which we never send)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        app.openapi_schema = with_problem_responses(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_problem_responses(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["Problem"] = problem_schema
    reference = {"$ref": "#/components/schemas/Problem"}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status in COMMON_ERROR_STATUSES:
                entry = responses.setdefault(str(status), {"description": _title(status)})
                entry["content"] = {PROBLEM_MEDIA_TYPE: {"schema": reference}}
    return schema
