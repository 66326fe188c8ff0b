"""Errors of the business logic, in its own words; the one app factory turns them into HTTP.

Logic modules raise these (never ``HTTPException``), so the same rule works behind a route, an
event handler or a command, and the status a client sees is chosen in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})


class UnauthenticatedError(DomainError):
    """No valid credentials (401, with the ``WWW-Authenticate`` challenge)."""

    status = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class InvalidError(DomainError):
    """The request is well-formed but breaks a rule (422)."""

    status = 422


class NotFoundError(DomainError):
    status = 404


class ConflictError(DomainError):
    """The request clashes with the current state (409)."""

    status = 409


class RateLimitedError(DomainError):
    status = 429

    def __init__(self, detail: str, *, retry_after: str) -> None:
        super().__init__(detail, headers={"Retry-After": retry_after})


class UnavailableError(DomainError):
    """A dependency or capacity is missing right now; retrying later may work (503)."""

    status = 503

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
