"""What budget_service asks of expense_service: the user's categories, and budget changes.

Categories: a budget may only name a category the user has (built-in or their own), the same
rule an expense follows; expense_service owns categories, so budget_service asks it, with the
caller's token, and only for a name that is not built in.

Budget changes are pushed to expense_service before they commit, for two reasons. Hard limits
take effect the moment their budget is answered for (below). And a budget's amount is in the
user's currency, which may only change while the account has no data: expense_service decides
that, so it must know of every budget at once.

expense_service asks budget_service about an expense only when its copy of budgets says a
hard limit may apply (so ordinary expenses cost no call and survive budget_service being down).
That copy follows ``budget.*`` events, which arrive a few milliseconds (or, under load,
seconds) after the budget is committed; a hard limit known only through them would leave a
window in which expenses slip past it. So every budget change is also pushed to
expense_service's copy directly, inside the budget's transaction and before it commits: once
``POST /api/budgets`` answers, every expense that starts afterwards sees it.

The answer to a hard-limit push lists the expenses of the budget's month as expense_service
has them; budget_service brings its projection up to date with them in the same transaction, so
spending recorded before the limit was hard counts at once, not when its events arrive.

If the push fails, the budget change fails with it (nothing is written) and the client is told
to retry. A push whose change then does not commit leaves a hard budget in the copy that never
was, which only makes expense_service ask budget_service, who decides on its own data.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from shared.events import BudgetUpserted, ExpenseSnapshot


class PropagationError(Exception):
    """expense_service could not be told of a budget change: it must not commit."""


class CategoriesUnavailableError(Exception):
    """expense_service could not say which categories the user has."""


@dataclass
class ExpenseServiceClient:
    http: httpx.AsyncClient
    expense_service_url: str

    async def categories(self, token: str) -> set[str]:
        try:
            response = await self.http.get(
                f"{self.expense_service_url}/api/categories",
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            raise CategoriesUnavailableError(repr(exc)) from None
        if response.status_code != httpx.codes.OK:
            raise CategoriesUnavailableError(f"expense_service answered {response.status_code}")
        return {str(category["name"]) for category in response.json()}

    async def push_budget(self, token: str, budget: BudgetUpserted) -> list[ExpenseSnapshot]:
        """Returns, for a hard-limit budget, the expenses of its month as expense_service has
        them now (empty otherwise)."""
        try:
            response = await self.http.post(
                f"{self.expense_service_url}/internal/budgets",
                headers={"Authorization": f"Bearer {token}"},
                json=budget.model_dump(mode="json"),
            )
        except httpx.HTTPError as exc:
            raise PropagationError(repr(exc)) from None
        if response.status_code != httpx.codes.OK:
            raise PropagationError(f"expense_service answered {response.status_code}")
        try:
            return [ExpenseSnapshot.model_validate(e) for e in response.json()["expenses"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise PropagationError(f"unreadable answer: {exc!r}") from None
