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
    # Recurring rules: the scheduler looks this far ahead, and so sees a rule another replica
    # wrote (and did not get to create) within this long.
    recurring_horizon_seconds: float = Field(default=60.0, gt=0, le=3600)
    # An expense sent without a category is filed under the suggestion at least this sure.
    file_at_confidence: float = Field(default=0.7, ge=0, le=1)
