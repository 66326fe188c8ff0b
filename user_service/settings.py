from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "user_service"
    mongodb_db: str = "users"

    data_dir: Path = Path(".data/user_service")
    # PEM of an Ed25519 private key. When neither is set, one is generated into data_dir once.
    jwt_private_key: SecretStr | None = None
    jwt_private_key_file: Path | None = None
    access_token_minutes: int = Field(default=15, ge=1, le=15)
    refresh_token_days: int = Field(default=30, ge=1, le=365)

    # Asked before a currency change (user_service.ledger_client).
    expense_service_url: str = "http://127.0.0.1:8002"
    expense_service_timeout: float = Field(default=3.0, gt=0)

    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    # bcrypt releases the GIL; more hashes at once than cores only queues them up.
    bcrypt_concurrency: int = Field(default=2, ge=1, le=64)
    # Beyond this many waiting for a hash (or this long in the queue): 503 with Retry-After.
    bcrypt_queue_limit: int = Field(default=32, ge=1, le=10_000)
    bcrypt_queue_seconds: float = Field(default=5.0, gt=0, le=60)

    # Login attempts per account in a fixed window, counted before the password is checked;
    # a successful login takes its attempt back, so this bounds failures.
    login_failure_limit: int = Field(default=10, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    # Password reset requests per address in a window (counted for any address).
    reset_limit: int = Field(default=5, ge=1)
    reset_window_seconds: int = Field(default=3600, ge=1)
    # Where users reach the web app: reset links point here.
    public_url: str = "http://127.0.0.1:8000"

    def insecure_settings(self) -> list[str]:
        problems = super().insecure_settings()
        if self.bcrypt_rounds < 12:
            problems.append("BCRYPT_ROUNDS below 12 is for tests only")
        return problems
