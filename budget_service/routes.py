"""budget_service's HTTP API: ``/api/budgets``, the seed's ``/api/budget`` shorthands, and the
hard-limit reservation expense_service calls (``/internal``, never routed by the gateway)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)

from budget_service.budgeting import BudgetBook, UnknownCategoryError, budget_out
from budget_service.expense_client import (
    CategoriesUnavailableError,
    ExpenseServiceClient,
    PropagationError,
)
from budget_service.models import (
    BudgetIn,
    BudgetOut,
    BudgetPatch,
    BudgetStatus,
    MonthlyBudgetIn,
    ReservationIn,
)
from shared.auth import CurrentUser, Principal
from shared.budgets import budgets_in_force
from shared.etags import PRECONDITION, IfMatch, IfMatchHeader, etag
from shared.ids import uuid_or_no_route
from shared.month import Month as CalendarMonth
from shared.service import Runtime
from shared.types import Month


async def get_book(runtime: Runtime, request: Request) -> BudgetBook:
    client: ExpenseServiceClient = request.app.state.expense_service
    return BudgetBook(runtime.db, runtime.transactions, client)


async def saved(book: BudgetBook, user: Principal, body: BudgetIn) -> tuple[BudgetOut, bool]:
    try:
        return await book.upsert(user, body)
    except (PropagationError, CategoriesUnavailableError, UnknownCategoryError) as exc:
        raise _translated(exc) from None


async def patched(
    book: BudgetBook,
    user: Principal,
    budget_id: str,
    changes: dict[str, Any],
    if_match: IfMatch | None = None,
) -> BudgetOut:
    try:
        return await book.patch(user, budget_id, changes, if_match)
    except (
        PropagationError,
        CategoriesUnavailableError,
        UnknownCategoryError,
    ) as exc:
        raise _translated(exc) from None


def _translated(exc: Exception) -> HTTPException:
    if isinstance(exc, UnknownCategoryError):
        return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))
    if isinstance(exc, CategoriesUnavailableError):
        return HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "your categories cannot be checked while the expense service is unreachable; "
            "retry shortly",
            headers={"Retry-After": "5"},
        )
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "a budget must reach the expense service before it is saved (so that a hard limit "
        "applies at once), and the expense service cannot be reached; nothing was changed, "
        "retry shortly",
        headers={"Retry-After": "5"},
    )


Book = Annotated[BudgetBook, Depends(get_book)]
MonthQuery = Annotated[Month | None, Query(description="YYYY-MM; this month when left out")]

budgets = APIRouter(prefix="/api/budgets", tags=["budgets"])
shorthand = APIRouter(prefix="/api/budget", tags=["budgets"])
internal = APIRouter(prefix="/internal", tags=["internal"], include_in_schema=False)


@budgets.post(
    "",
    response_model=BudgetOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "The month and category had a budget: updated"}},
)
async def upsert_budget(
    body: BudgetIn, user: CurrentUser, book: Book, response: Response
) -> BudgetOut:
    """One budget per month and category (null category: overall). Creating it when spending
    is already past a threshold alerts at once; changing its amount or thresholds re-arms them.
    With `hard_limit`, expenses that would take the month's spending past it are refused."""
    budget, created = await saved(book, user, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/api/budgets/{budget.id}"
    response.headers["ETag"] = etag(budget.version)
    return budget


@budgets.get(
    "",
    response_model=list[BudgetOut],
    summary="The budgets in force in a month (repeating ones included)",
)
async def list_budgets(user: CurrentUser, book: Book, month: MonthQuery = None) -> list[BudgetOut]:
    month = month or CalendarMonth.key_of(await book.today(user.user_id))
    in_force = await budgets_in_force(book.db, user.user_id, month)
    return [budget_out(doc) for _, doc in sorted(in_force.items(), key=lambda i: i[0] or "")]


@budgets.get(
    "/status",
    response_model=list[BudgetStatus],
    summary="Limit, spent, remaining, % used, state and pace of each budget in force",
)
async def budget_status(
    user: CurrentUser, book: Book, month: MonthQuery = None
) -> list[BudgetStatus]:
    """`state` is ok below the first threshold, warning from it, exceeded from 100%.
    `projected_spend` extends this month's pace to its end ("today" in your time zone).
    Income never counts against a budget."""
    return await book.status(user.user_id, month)


async def _budget_id(
    budget_id: Annotated[str, Path(description="a UUID")], request: Request
) -> str:
    return uuid_or_no_route(budget_id, request)


BudgetId = Annotated[str, Depends(_budget_id)]


@budgets.get("/{budget_id}", response_model=BudgetOut)
async def read_budget(
    budget_id: BudgetId, user: CurrentUser, book: Book, response: Response
) -> BudgetOut:
    budget = budget_out(await book.owned(user.user_id, budget_id))
    response.headers["ETag"] = etag(budget.version)
    return budget


@budgets.patch("/{budget_id}", response_model=BudgetOut, responses=PRECONDITION)
async def patch_budget(
    budget_id: BudgetId,
    body: BudgetPatch,
    user: CurrentUser,
    book: Book,
    response: Response,
    if_match: IfMatchHeader = None,
) -> BudgetOut:
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    budget = await patched(book, user, budget_id, changes, IfMatch.parse(if_match))
    response.headers["ETag"] = etag(budget.version)
    return budget


@budgets.delete("/{budget_id}", status_code=status.HTTP_204_NO_CONTENT, responses=PRECONDITION)
async def delete_budget(
    budget_id: BudgetId, user: CurrentUser, book: Book, if_match: IfMatchHeader = None
) -> None:
    await book.delete(user.user_id, budget_id, IfMatch.parse(if_match))


@shorthand.post(
    "",
    response_model=BudgetOut,
    status_code=status.HTTP_201_CREATED,
    summary="Set this month's overall budget (the seed API)",
)
async def set_monthly_budget(
    body: MonthlyBudgetIn, user: CurrentUser, book: Book, response: Response
) -> BudgetOut:
    """Creates the overall budget of the month (this month unless named), or changes only its
    amount when there is one, keeping its thresholds, repeat and hard limit."""
    month = body.month or CalendarMonth.key_of(await book.today(user.user_id))
    existing = await book.db.budgets.find_one(
        {"user_id": user.user_id, "month": month, "category": None}
    )
    if existing is not None:
        response.status_code = status.HTTP_200_OK
        return await patched(book, user, existing["_id"], {"amount": body.amount})
    return await upsert_budget(BudgetIn(month=month, amount=body.amount), user, book, response)


@shorthand.get(
    "/status",
    response_model=BudgetStatus,
    summary="This month's overall budget status (the seed API)",
)
async def monthly_status(user: CurrentUser, book: Book, month: MonthQuery = None) -> BudgetStatus:
    for entry in await book.status(user.user_id, month):
        if entry.category is None:
            return entry
    raise HTTPException(status.HTTP_404_NOT_FOUND, "no overall budget for this month")


@internal.post(
    "/reservations",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "Over a hard limit"}},
)
async def reserve(body: ReservationIn, user: CurrentUser, book: Book) -> None:
    await book.reserve(user.user_id, body)
