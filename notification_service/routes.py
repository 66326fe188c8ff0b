"""notification_service's HTTP API under ``/api/notifications``.

Its endpoints arrive with issue #5.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/notifications", tags=["notifications"])
