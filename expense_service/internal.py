"""Routes only other services call (``/internal``, never routed by the gateway)."""

from __future__ import annotations

from fastapi import APIRouter, status

from shared.auth import CurrentUser
from shared.budgets import store_budget_copy
from shared.events import BudgetUpserted
from shared.outbox import UnitOfWork
from shared.service import Runtime

internal = APIRouter(prefix="/internal", tags=["internal"], include_in_schema=False)


@internal.post("/budgets", status_code=status.HTTP_204_NO_CONTENT)
async def push_budget(budget: BudgetUpserted, user: CurrentUser, runtime: Runtime) -> None:
    """budget_service pushes a hard-limit budget here before committing it, so that hard limits
    apply from the moment the client is answered (budget_service.propagation). The caller's own
    token names the user: nobody can place a budget in another user's copy."""

    async def write(uow: UnitOfWork) -> None:
        await store_budget_copy(uow, user.user_id, budget, committed=False)

    await runtime.outbox.run(write)
