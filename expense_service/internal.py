"""Routes only other services call (``/internal``, never routed by the gateway)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict

from expense_service.storage import ExpenseFilter, snapshot
from shared.auth import CurrentUser
from shared.budgets import store_budget_copy
from shared.events import BudgetUpserted, ExpenseSnapshot
from shared.mongo import utcnow
from shared.service import Runtime
from shared.types import CurrencyCode
from shared.uow import UnitOfWork

internal = APIRouter(prefix="/internal", tags=["internal"], include_in_schema=False)


class MonthExpenses(BaseModel):
    """For a hard-limit budget: every expense of its month as stored now, so budget_service
    counts spending recorded before the limit was hard without waiting for its events."""

    expenses: list[ExpenseSnapshot]


@internal.post("/budgets", response_model=MonthExpenses)
async def push_budget(budget: BudgetUpserted, user: CurrentUser, runtime: Runtime) -> MonthExpenses:
    """budget_service pushes every budget change here before committing it, so that hard limits
    apply from the moment the client is answered, and so that a currency change knows of every
    budget (budget_service.expense_client). The caller's own token names the user: nobody can
    place a budget in another user's copy."""

    async def write(uow: UnitOfWork) -> None:
        await store_budget_copy(uow, user.user_id, budget, committed=False)
        # A budget's amount is in the user's currency: the account now has data in it. Writing
        # the profile conflicts with a concurrent currency change, so one of them retries.
        await uow.db.users.update_one(
            {"_id": user.user_id, "has_data": {"$ne": True}},
            {"$set": {"has_data": True}},
            session=uow.session,
        )

    await runtime.transactions.run(write)
    if not budget.hard_limit:
        return MonthExpenses(expenses=[])
    query = ExpenseFilter(month=budget.month).query(user.user_id)  # half-open, exact
    return MonthExpenses(
        expenses=[
            ExpenseSnapshot(**snapshot(doc))
            async for doc in runtime.db.expenses.find(query).batch_size(1000)
        ]
    )


class CurrencyChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: CurrencyCode


class _RefusedError(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        self.status_code, self.detail = status_code, detail


@internal.post(
    "/currency",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "The account has data in its current currency"}},
)
async def change_currency(body: CurrencyChange, user: CurrentUser, runtime: Runtime) -> None:
    """user_service asks before changing a user's currency. Figures are kept in the currency
    they were recorded in, and every total adds them up, so the currency may only change while
    the account has no expenses (nor budgets, whose amounts are in it too). Allowed, the local
    profile takes the new currency at once, in the same transaction, so the very next expense
    is recorded in it; a first expense being written meanwhile conflicts on the profile and
    one of the two retries (expense_service.ledger.mark_has_data)."""

    async def write(uow: UnitOfWork) -> None:
        user_id = user.user_id
        profile = await uow.db.users.find_one({"_id": user_id}, session=uow.session)
        if profile is None or profile.get("deleted") or "currency" not in profile:
            raise _RefusedError(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "your account is still being set up; retry in a moment",
            )
        current = profile["currency"]
        if current == body.currency:
            return
        has_data = (
            profile.get("has_data")
            or await uow.db.expenses.find_one({"user_id": user_id}, {"_id": 1}, session=uow.session)
            or await uow.db.budgets.find_one(
                {"user_id": user_id, "deleted": {"$ne": True}}, {"_id": 1}, session=uow.session
            )
        )
        if has_data:
            raise _RefusedError(
                status.HTTP_409_CONFLICT,
                f"your expenses and budgets are recorded in {current}; changing the currency "
                f"to {body.currency} would relabel them without converting them, so it can only "
                "change while the account has none (a new account can start in any currency)",
            )
        await uow.db.users.update_one(
            {"_id": user_id},
            {"$set": {"currency": body.currency, "as_of": utcnow()}},
            session=uow.session,
        )

    try:
        await runtime.transactions.run(write)
    except _RefusedError as exc:
        raise HTTPException(exc.status_code, exc.detail) from None
