"""Settings common to every service, read from the environment by pydantic-settings.

Each service subclasses ``ServiceSettings`` with its own fields and defaults. The defaults work on
a developer's machine as they are; outside ``development`` the insecure ones are refused at start.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_JWT_ISSUER = "expense-tracker"
DEFAULT_JWT_AUDIENCE = "expense-tracker-api"


class ServiceSettings(BaseSettings):
    # env_ignore_empty: compose passes unset variables as "", which means "use the default".
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", frozen=True, env_ignore_empty=True
    )

    environment: Environment = "development"
    log_level: str = "INFO"
    # Not read from the environment: it names the process in logs, queues and the AMQP client.
    service_name: ClassVar[str] = "service"

    mongodb_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongodb_db: str = ""
    amqp_url: str = DEFAULT_AMQP_URL
    # Both are settings so that test runs can share one broker without sharing queues.
    events_exchange: str = "expense_tracker.events"
    queue_prefix: str = ""

    jwt_issuer: str = DEFAULT_JWT_ISSUER
    jwt_audience: str = DEFAULT_JWT_AUDIENCE
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"

    outbox_relay_enabled: bool = True
    # Development and test only (shared.clock): this process's clock starts at this moment.
    clock_start: datetime | None = None
    consumer_prefetch: int = Field(default=32, ge=1, le=1000)
    delivery_limit: int = Field(default=5, ge=1, le=100)

    @property
    def queue_name(self) -> str:
        return f"{self.queue_prefix}{self.service_name}.events"

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Self:
        if self.clock_start is not None and self.environment == "production":
            raise ValueError("CLOCK_START is for development and tests; unset it in production")
        if self.clock_start is not None and self.clock_start.tzinfo is None:
            raise ValueError("CLOCK_START needs a UTC offset, e.g. 2026-11-30T08:00:00+00:00")
        if self.environment == "development":
            return self
        problems = self.insecure_settings()
        if problems:
            raise ValueError(
                f"refusing to start in {self.environment!r} with default secrets: "
                + "; ".join(problems)
            )
        return self

    def insecure_settings(self) -> list[str]:
        """Names what still carries a well-known default credential; subclasses add their own."""
        problems = []
        amqp = urlsplit(self.amqp_url)
        if (amqp.username, amqp.password) in {("guest", "guest"), (None, None)}:
            problems.append("AMQP_URL uses RabbitMQ's guest account; set a user and password")
        return problems
