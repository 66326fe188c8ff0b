"""analytics_service's HTTP API under ``/api/analytics``.

Its endpoints arrive with issue #6.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/analytics", tags=["analytics"])
