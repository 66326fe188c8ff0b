"""expense_service's HTTP API under ``/api/expenses``.

Its endpoints arrive with issue #3.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/expenses", tags=["expenses"])
