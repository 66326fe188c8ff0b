from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "budget_service"
    mongodb_db: str = "budgets"
    # Told of every hard-limit budget before it is saved (budget_service.propagation).
    expense_service_url: str = "http://127.0.0.1:8002"
    expense_service_timeout: float = Field(default=3.0, gt=0)
