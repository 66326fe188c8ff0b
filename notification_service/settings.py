from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "notification_service"
    mongodb_db: str = "notifications"

    # Email is sent only when SMTP_HOST is set.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "Expense Tracker <alerts@localhost>"
    smtp_starttls: bool = True
    smtp_timeout: float = Field(default=10.0, gt=0)
    # A failed send is retried after retry_base * 2^(attempts-1) seconds, at most retry_max.
    email_retry_base_seconds: float = Field(default=2.0, gt=0)
    email_retry_max_seconds: float = Field(default=600.0, gt=0)

    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    # Webhooks: each delivery attempt's time limit, the waits before each retry (then it gives
    # up), how many given-up deliveries in a row disable a webhook, and how many go at once.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_seconds: list[float] = Field(default=[5, 30, 120, 600, 1800, 7200])
    webhook_disable_after: int = Field(default=5, ge=1)
    webhook_concurrency: int = Field(default=16, ge=1, le=256)

    # The digest scheduler looks this far ahead (shared.scheduler).
    digest_horizon_seconds: float = Field(default=60.0, gt=0, le=3600)

    def insecure_settings(self) -> list[str]:
        problems = super().insecure_settings()
        if self.smtp_host and self.smtp_user and self.smtp_password is None:
            problems.append("SMTP_USER is set without SMTP_PASSWORD")
        return problems
