from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import AnyHttpUrl, Field

from shared.settings import ServiceSettings

LOCAL_UPSTREAMS = {
    "user_service": ["http://127.0.0.1:8001"],
    "expense_service": ["http://127.0.0.1:8002"],
    "budget_service": ["http://127.0.0.1:8003"],
    "analytics_service": ["http://127.0.0.1:8004"],
    "notification_service": ["http://127.0.0.1:8005"],
}


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "gateway"
    mongodb_db: str = "gateway"

    # service → base URLs, used round-robin. In the environment, JSON:
    # UPSTREAMS='{"user_service": ["http://users-1:8001", "http://users-2:8001"], ...}'
    upstreams: dict[str, list[AnyHttpUrl]] = Field(
        default_factory=lambda: {k: [AnyHttpUrl(u) for u in v] for k, v in LOCAL_UPSTREAMS.items()}
    )
    # The client that forwards requests: aiohttp, or httpx (see gateway/upstream.py and bench/).
    upstream_client: Literal["aiohttp", "httpx"] = "aiohttp"
    upstream_connect_timeout: float = Field(default=2.0, gt=0)
    upstream_timeout: float = Field(default=30.0, gt=0, description="waiting for a response")
    # Each open live stream holds one: as many as the server takes (HTTP_MAX_CONNECTIONS).
    upstream_max_connections: int = Field(default=4096, ge=1)
    upstream_max_keepalive: int = Field(default=128, ge=1)

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # CSV import takes files up to 5 MB, plus multipart overhead.
    upload_max_body_bytes: int = Field(default=6 * 1024 * 1024, ge=1024)
    upload_paths: list[str] = Field(default_factory=lambda: ["/api/expenses/import"])

    cors_origins: list[str] = Field(default_factory=list)
    # The built web app served at / (default: web/dist of this checkout).
    web_dir: Path | None = None

    # Public auth routes: all requests per client IP, in fixed windows. (Login attempts per
    # account are counted by user_service, LOGIN_FAILURE_LIMIT.)
    auth_ip_limit: int = Field(default=30, ge=1)
    auth_ip_window_seconds: int = Field(default=60, ge=1)

    openapi_cache_seconds: float = Field(default=30.0, ge=0)
