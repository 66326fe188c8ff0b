"""What user_service asks of expense_service: may this user's currency change?

Expenses and budgets are recorded in the user's currency and never converted, so the currency
may only change while the account has none. expense_service, which records them, decides
(``POST /internal/currency``, with the caller's token) and, when it agrees, already records
the next expense in the new currency.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi import status

from shared.errors import ConflictError, DomainError, UnavailableError


@dataclass
class ExpenseLedgerClient:
    http: httpx.AsyncClient
    expense_service_url: str

    async def change_currency(self, token: str, currency: str) -> None:
        """Returns when the change may go ahead; raises the domain error to answer otherwise."""
        try:
            response = await self.http.post(
                f"{self.expense_service_url}/internal/currency",
                headers={"Authorization": f"Bearer {token}"},
                json={"currency": currency},
            )
        except httpx.HTTPError:
            raise _unavailable() from None
        if response.status_code == status.HTTP_204_NO_CONTENT:
            return
        if response.status_code in (status.HTTP_409_CONFLICT, status.HTTP_503_SERVICE_UNAVAILABLE):
            try:
                detail = response.json().get("detail")
            except ValueError:  # not our problem body (a proxy's, uvicorn's plain 503)
                raise _unavailable() from None
            if isinstance(detail, str):
                if response.status_code == status.HTTP_409_CONFLICT:
                    raise ConflictError(detail)
                raise UnavailableError(detail)
        raise _unavailable()


def _unavailable() -> DomainError:
    return UnavailableError(
        "the currency cannot be changed while the expense service is unreachable (it checks "
        "that no expenses are recorded in the current one); retry shortly",
        retry_after=5,
    )
