"""Hard limits, from expense_service's side.

budget_service decides whether an expense fits under a hard limit (it alone knows the spending),
atomically, by reserving the amount. expense_service keeps a copy of budgets (from
budget.upserted / budget.deleted, shared.budgets) only to know *whether* to ask: an expense
under no hard limit is written without any call, so it is accepted even while budget_service
is down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import status

from shared.budgets import budgets_in_force, effective_budgets
from shared.errors import ConflictError, UnavailableError
from shared.mongo import Database


@dataclass
class HardLimits:
    db: Database
    http: httpx.AsyncClient
    budget_service_url: str

    async def checker(self, user_id: str) -> Callable[[str, str], bool]:
        """``applies`` for many expenses at once (an import): the user's budgets are read
        once, and what is in force worked out once per month."""
        budgets = [
            doc
            async for doc in self.db.budgets.find({"user_id": user_id, "deleted": {"$ne": True}})
        ]
        any_hard = any(doc.get("hard_limit") for doc in budgets)
        in_force: dict[str, dict[str | None, dict[str, Any]]] = {}

        def applies(month: str, category: str) -> bool:
            if not any_hard:
                return False
            if month not in in_force:
                in_force[month] = effective_budgets(budgets, month)
            chosen = in_force[month]
            return any(chosen.get(scope, {}).get("hard_limit") for scope in (category, None))

        return applies

    async def applies(self, user_id: str, month: str, category: str) -> bool:
        in_force = await budgets_in_force(self.db, user_id, month)
        chosen = [in_force.get(scope) for scope in (category, None)]
        return any(budget.get("hard_limit") for budget in chosen if budget is not None)

    async def admit(
        self, user_id: str, token: str, expense_id: str, version: int, fields: dict[str, Any]
    ) -> None:
        """Raises 409 when the expense would go past a hard limit, 503 when that cannot be
        checked; returns when it may be written."""
        if fields["kind"] != "expense":
            return  # income never counts against a budget
        if not await self.applies(user_id, fields["month"], fields["category"]):
            return
        try:
            response = await self.http.post(
                f"{self.budget_service_url}/internal/reservations",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "expense_id": expense_id,
                    "version": version,
                    "month": fields["month"],
                    "category": fields["category"],
                    "amount_cents": fields["base_amount_cents"],
                },
            )
        except httpx.HTTPError:
            raise _unavailable() from None
        if response.status_code == status.HTTP_409_CONFLICT:
            raise ConflictError(response.json()["detail"])
        if response.status_code != status.HTTP_204_NO_CONTENT:
            raise _unavailable()


def _unavailable() -> UnavailableError:
    return UnavailableError(
        "this expense falls under a hard-limit budget, and the budget service cannot be "
        "reached to check it; retry shortly",
        retry_after=5,
    )
