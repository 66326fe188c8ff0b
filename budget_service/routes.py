"""budget_service's HTTP API under ``/api/budgets``.

Its endpoints arrive with issue #4.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/budgets", tags=["budgets"])
