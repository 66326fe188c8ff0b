from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "expense_service"
    mongodb_db: str = "expenses"
    # Asked (only) about expenses that fall under a hard-limit budget.
    budget_service_url: str = "http://127.0.0.1:8003"
    budget_service_timeout: float = Field(default=3.0, gt=0)
