"""expense_service's HTTP API: ``/api/expenses`` and ``/api/categories``."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import (
    APIRouter,
    Depends,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BeforeValidator, ValidationError
from pymongo.errors import DuplicateKeyError

from expense_service import listing, reports
from expense_service.csv_io import CsvFormatError, describe, export_csv, read_csv
from expense_service.imports import SYNC_ROWS, ImportJobs, read_job
from expense_service.ledger import (
    CurrencyChangedError,
    ImportInterruptedError,
    Ledger,
    fields_for_patch,
    unprocessable,
)
from expense_service.models import (
    CategoryIn,
    CategoryOut,
    ExpenseFields,
    ExpenseOut,
    ExpensePage,
    ExpensePatch,
    ImportJob,
    ImportResult,
    Kind,
    MonthlyTotals,
    MonthSummary,
    RankedCategory,
    RecurringFields,
    RecurringOut,
    RecurringPage,
    RecurringPatch,
    SortOrder,
    Suggestion,
    SuggestionIn,
    Tag,
)
from expense_service.recurring import RecurringRules, recurring_out
from expense_service.storage import ExpenseFilter, expense_out, sort_spec
from expense_service.suggest import ALTERNATIVES, confidence
from shared.auth import CurrentUser
from shared.etags import PRECONDITION, IfMatch, IfMatchHeader, etag
from shared.ids import uuid_or_no_route
from shared.money import MAX_AMOUNT, plain_decimal, to_cents
from shared.mongo import utcnow
from shared.service import Runtime
from shared.types import BUILTIN_CATEGORIES, MAX_YEAR, MIN_YEAR, CalendarDate, CategoryName, Month
from shared.users import profile_and_now

IMPORT_MAX_BYTES = 5 * 1024 * 1024
IMPORT_MAX_ROWS = 50_000


async def get_ledger(runtime: Runtime, request: Request) -> Ledger:
    state = request.app.state
    return Ledger(
        runtime.db, runtime.transactions, state.hard_limits, state.suggester, state.file_at
    )


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


async def get_rules(ledger: LedgerDep, request: Request) -> RecurringRules:
    return RecurringRules(ledger, request.app.state.recurring_scheduler)


RulesDep = Annotated[RecurringRules, Depends(get_rules)]
AmountQuery = Annotated[
    Decimal | None,
    BeforeValidator(plain_decimal),
    Query(ge=0, le=MAX_AMOUNT, decimal_places=2, allow_inf_nan=False),
]


async def expense_filter(
    month: Annotated[Month | None, Query(description="YYYY-MM")] = None,
    date_from: Annotated[CalendarDate | None, Query(alias="from", description="inclusive")] = None,
    date_to: Annotated[CalendarDate | None, Query(alias="to", description="inclusive")] = None,
    category: Annotated[CategoryName | None, Query()] = None,
    tag: Annotated[Tag | None, Query(description="case-insensitive")] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="text in the description")
    ] = None,
    min_amount: AmountQuery = None,
    max_amount: AmountQuery = None,
    kind: Kind | None = None,
) -> ExpenseFilter:
    if date_from and date_to and date_from > date_to:
        raise unprocessable("'from' is after 'to'")
    if min_amount is not None and max_amount is not None and min_amount > max_amount:
        raise unprocessable("min_amount is above max_amount")
    return ExpenseFilter(
        month=month,
        date_from=date_from,
        date_to=date_to,
        category=category,
        tag=tag,
        q=q,
        kind=kind,
        min_amount_cents=to_cents(min_amount) if min_amount is not None else None,
        max_amount_cents=to_cents(max_amount) if max_amount is not None else None,
    )


Filters = Annotated[ExpenseFilter, Depends(expense_filter)]
Sort = Annotated[SortOrder, Query(description="date or amount; '-' for descending")]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]

expenses = APIRouter(prefix="/api/expenses", tags=["expenses"])
categories = APIRouter(prefix="/api/categories", tags=["categories"])
recurring = APIRouter(prefix="/api/recurring", tags=["recurring"])


async def _page(
    runtime: Runtime, user_id: str, filters: ExpenseFilter, sort: SortOrder, limit: int, offset: int
) -> ExpensePage:
    return await listing.page(
        runtime.db, runtime.transactions, user_id, filters, sort, limit, offset
    )


@expenses.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ExpenseOut,
    summary="Record an expense or income",
    responses={422: {"description": "Invalid, or an Idempotency-Key reused with another body"}},
)
async def create_expense(
    body: ExpenseFields,
    user: CurrentUser,
    ledger: LedgerDep,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ] = None,
) -> ExpenseOut:
    """With an `Idempotency-Key`, repeating the request (same key, same body) returns the
    first answer and stores nothing more, for 24 hours."""
    try:
        expense, created = await ledger.create(user, body, idempotency_key)
    except CurrencyChangedError:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "your currency changed while this expense was being recorded; send it again",
        ) from None
    response.headers["Location"] = f"/api/expenses/{expense.id}"
    response.headers["ETag"] = etag(expense.version)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return expense


@expenses.post(
    "/suggest-category",
    response_model=Suggestion,
    summary="Suggest a category for a description, learnt from your own filing",
)
async def suggest_category(body: SuggestionIn, user: CurrentUser, ledger: LedgerDep) -> Suggestion:
    """Ranked by how you have filed similar descriptions before (your own categories
    included, and your corrections), and, for a new account, by built-in keywords. Case, store
    numbers, card digits, dates and payment words ("POS", "VISA") do not matter. `amount` is
    accepted for the future and not used yet."""
    assert ledger.suggester is not None
    known = await ledger.categories(user.user_id)  # not one deleted since it was learnt
    ranking = [
        (category, sure)
        for category, sure in await ledger.suggester.suggest(user.user_id, body.description)
        if category in known
    ]
    if not ranking:
        raise unprocessable("the description has no words to go by")
    (best, sure), *rest = ranking
    return Suggestion(
        category=best,
        confidence=confidence(sure),
        alternatives=[
            RankedCategory(category=c, confidence=confidence(p)) for c, p in rest[:ALTERNATIVES]
        ],
    )


@expenses.get("", response_model=ExpensePage, summary="List, filter, sort and page")
async def list_expenses(
    user: CurrentUser,
    runtime: Runtime,
    filters: Filters,
    sort: Sort = SortOrder.DATE_DESC,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ExpensePage:
    """Amount filters and sorting use `base_amount`, the amount in your own currency."""
    return await _page(runtime, user.user_id, filters, sort, limit, offset)


@expenses.get(
    "/month",
    response_model=ExpensePage,
    summary="One month's expenses (shorthand for ?month=YYYY-MM)",
)
async def list_month(
    user: CurrentUser,
    runtime: Runtime,
    filters: Filters,
    m: Annotated[int, Query(ge=1, le=12)],
    year: Annotated[
        int | None, Query(ge=MIN_YEAR, le=MAX_YEAR, description="this year when left out")
    ] = None,
    sort: Sort = SortOrder.DATE_DESC,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ExpensePage:
    """`year` defaults to the current year in your time zone, as the seed's `?m=10` expects."""
    if year is None:
        _, now = await profile_and_now(runtime.db, user.user_id)
        year = now.year
    month_filter = ExpenseFilter(**{**filters.__dict__, "month": f"{year:04d}-{m:02d}"})
    return await _page(runtime, user.user_id, month_filter, sort, limit, offset)


@expenses.get(
    "/monthly",
    response_model=MonthlyTotals,
    summary="Each month's total and count for a year (zeros for empty months)",
)
async def monthly(
    user: CurrentUser,
    runtime: Runtime,
    year: Annotated[int, Query(ge=MIN_YEAR, le=MAX_YEAR)],
    kind: Kind = Kind.EXPENSE,
) -> MonthlyTotals:
    return await reports.monthly(runtime.db, user.user_id, year, kind)


@expenses.get(
    "/summary", response_model=MonthSummary, summary="A month by category: total, count and share"
)
async def summary(
    user: CurrentUser,
    runtime: Runtime,
    month: Annotated[Month, Query()],
    kind: Kind = Kind.EXPENSE,
) -> MonthSummary:
    return await reports.summary(runtime.db, user.user_id, month, kind)


@expenses.get(
    "/export.csv",
    response_class=StreamingResponse,
    summary="Download as CSV (the list's filters apply)",
    responses={200: {"content": {"text/csv": {}}}},
)
async def export(
    user: CurrentUser, runtime: Runtime, filters: Filters, sort: Sort = SortOrder.DATE
) -> StreamingResponse:
    """Streamed: memory stays flat however many rows. Cells starting with `= + - @` get a
    leading `'` so spreadsheets do not run them as formulas."""
    cursor = runtime.db.expenses.find(filters.query(user.user_id)).sort(sort_spec(sort))
    return StreamingResponse(
        export_csv(cursor.batch_size(1000)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="expenses.csv"'},
    )


@expenses.post(
    "/import",
    response_model=ImportResult,
    summary="Import a CSV file (multipart field 'file', or a text/csv body)",
    responses={
        202: {
            "model": ImportJob,
            "description": f"Over {SYNC_ROWS} rows: imported in the background; follow Location",
        }
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            }
        }
    },
)
async def import_csv(
    request: Request,
    user: CurrentUser,
    ledger: LedgerDep,
    response: Response,
    decimal: Annotated[
        Literal["point", "comma"] | None,
        Query(description="the decimal mark of the amounts; detected when left out"),
    ] = None,
    amounts: Annotated[
        Literal["signed", "positive"] | None,
        Query(
            description="signed: a bank statement, negative amounts are expenses and positive "
            "ones income (without a kind column); detected when left out (most amounts "
            "negative)"
        ),
    ] = None,
) -> ImportResult:
    """Columns (header names, any case): date and amount required; category (default other),
    description, tags (separated by ';'), kind, currency, base_amount; the usual names of bank
    and Firefly III exports are understood too (Buchungstag, Betrag, Payee, currency_code,
    type: withdrawal/deposit...). The delimiter (`,` `;` tab `|`) is detected; a decimal comma
    (`12,50`, `1.234,56`) is taken when declared with `decimal=comma` or detected (a `;` file,
    or amounts ending in a comma and 1-2 digits). Dates: `2026-10-31`, `31.10.2026` or
    `2026/10/31`. Without a kind column, a bank statement (`amounts=signed`, or most amounts
    negative) has negative amounts as expenses and positive ones as income. Categories you do
    not have yet are created (listed in `created_categories`). Up to 5 MB and 50,000 rows.
    Valid rows are imported, each invalid one reported with its line number; importing the
    same file again adds only what is missing, so an interrupted import (503, saying how far
    it got) is finished by importing the file again.

    Files of more than 2,000 rows are imported in the background: the answer is 202 with
    `Location: /api/expenses/imports/{id}`, whose status shows progress and then the report."""
    content = await _upload(request)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise unprocessable("the file is not UTF-8 text") from None
    try:
        csv_file = read_csv(
            text, IMPORT_MAX_ROWS, decimal, None if amounts is None else amounts == "signed"
        )
    except CsvFormatError as exc:
        raise unprocessable(str(exc)) from None
    if csv_file.rows > SYNC_ROWS:
        jobs: ImportJobs = request.app.state.import_jobs
        job = await jobs.start(ledger, user, csv_file)
        location = f"/api/expenses/imports/{job.id}"
        return JSONResponse(  # type: ignore[return-value]
            job.model_dump(mode="json"),
            status_code=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )
    try:
        outcome = await ledger.import_rows(user, csv_file.entries())
    except ImportInterruptedError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "5"}
        ) from None
    return ImportResult(
        imported=outcome.imported,
        skipped=outcome.skipped,
        errors=sorted(outcome.problems, key=lambda p: p.line),
        created_categories=outcome.created_categories,
        delimiter=csv_file.delimiter,
        decimal=csv_file.decimal,
    )


async def _job_id(job_id: Annotated[str, Path(description="a UUID")], request: Request) -> str:
    return uuid_or_no_route(job_id, request)


@expenses.get(
    "/imports/{job_id}", response_model=ImportJob, summary="A background import's progress"
)
async def import_status(
    job_id: Annotated[str, Depends(_job_id)], user: CurrentUser, runtime: Runtime
) -> ImportJob:
    job = await read_job(runtime.db, user.user_id, job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no import {job_id}")
    return job


async def _upload(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > IMPORT_MAX_BYTES + 64 * 1024:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the file is over 5 MB")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise unprocessable("send the CSV as the multipart field 'file'")
        content = await upload.read(IMPORT_MAX_BYTES + 1)
    elif content_type.startswith(("text/csv", "text/plain", "application/csv")):
        content = b""
        async for chunk in request.stream():
            content += chunk
            if len(content) > IMPORT_MAX_BYTES:
                break
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send text/csv, or multipart/form-data with a 'file' field",
        )
    if len(content) > IMPORT_MAX_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the file is over 5 MB")
    return content


async def _expense_id(
    expense_id: Annotated[str, Path(description="a UUID")], request: Request
) -> str:
    return uuid_or_no_route(expense_id, request)


ExpenseId = Annotated[str, Depends(_expense_id)]


@expenses.get("/{expense_id}", response_model=ExpenseOut)
async def read_expense(
    expense_id: ExpenseId, user: CurrentUser, ledger: LedgerDep, response: Response
) -> ExpenseOut:
    expense = expense_out(await ledger.owned(user.user_id, expense_id))
    response.headers["ETag"] = etag(expense.version)
    return expense


@expenses.put(
    "/{expense_id}", response_model=ExpenseOut, summary="Replace an expense", responses=PRECONDITION
)
async def replace_expense(
    expense_id: ExpenseId,
    body: ExpenseFields,
    user: CurrentUser,
    ledger: LedgerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> ExpenseOut:
    current = await ledger.owned(user.user_id, expense_id)
    fields = await ledger.stored_fields(user.user_id, body)
    expense = await ledger.replace(user, current, fields, IfMatch.parse(if_match))
    response.headers["ETag"] = etag(expense.version)
    return expense


@expenses.patch(
    "/{expense_id}",
    response_model=ExpenseOut,
    summary="Change some fields",
    responses=PRECONDITION,
)
async def patch_expense(
    expense_id: ExpenseId,
    body: ExpensePatch,
    user: CurrentUser,
    ledger: LedgerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> ExpenseOut:
    current = await ledger.owned(user.user_id, expense_id)
    merged = fields_for_patch(current, body.model_dump(exclude_unset=True))
    try:
        full = ExpenseFields.model_validate(merged)
    except ValidationError as exc:
        raise unprocessable(describe(exc)) from None
    fields = await ledger.stored_fields(user.user_id, full)
    expense = await ledger.replace(user, current, fields, IfMatch.parse(if_match))
    response.headers["ETag"] = etag(expense.version)
    return expense


@expenses.delete("/{expense_id}", status_code=status.HTTP_204_NO_CONTENT, responses=PRECONDITION)
async def delete_expense(
    expense_id: ExpenseId, user: CurrentUser, ledger: LedgerDep, if_match: IfMatchHeader = None
) -> None:
    await ledger.delete(user.user_id, expense_id, IfMatch.parse(if_match))


@categories.get("", response_model=list[CategoryOut], summary="Built-in categories, then your own")
async def list_categories(user: CurrentUser, runtime: Runtime) -> list[CategoryOut]:
    own = [
        CategoryOut(id=doc["_id"], name=doc["key"], builtin=False)
        async for doc in runtime.db.categories.find({"user_id": user.user_id}).sort("key")
    ]
    return [CategoryOut(id=None, name=name, builtin=True) for name in BUILTIN_CATEGORIES] + own


@categories.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CategoryOut,
    responses={409: {"description": "You already have this category"}},
)
async def create_category(
    body: CategoryIn, user: CurrentUser, runtime: Runtime, response: Response
) -> CategoryOut:
    """Names compare case-insensitively ('Coffee' and 'coffee' are one category)."""
    if body.name in BUILTIN_CATEGORIES:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{body.name!r} is a built-in category")
    doc = {
        "_id": str(uuid.uuid4()),
        "user_id": user.user_id,
        "key": body.name,
        "created_at": utcnow(),
    }
    try:
        await runtime.db.categories.insert_one(doc)
    except DuplicateKeyError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"you already have a category {body.name!r}"
        ) from None
    response.headers["Location"] = f"/api/categories/{doc['_id']}"
    return CategoryOut(id=doc["_id"], name=body.name, builtin=False)


async def _category_id(
    category_id: Annotated[str, Path(description="a UUID")], request: Request
) -> str:
    return uuid_or_no_route(category_id, request)


@categories.delete(
    "/{category_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete one of your categories; its expenses move to another",
)
async def delete_category(
    category_id: Annotated[str, Depends(_category_id)],
    user: CurrentUser,
    ledger: LedgerDep,
    move_to: Annotated[CategoryName, Query()] = "other",
) -> None:
    """The category's expenses are moved to `move_to` (default `other`), each change an
    ordinary update with its `expense.updated` event, so budgets and analytics follow.
    Built-in categories cannot be deleted."""
    await ledger.delete_category(user.user_id, category_id, move_to)


# -- recurring rules ---------------------------------------------------------------------------


async def _rule_id(rule_id: Annotated[str, Path(description="a UUID")], request: Request) -> str:
    return uuid_or_no_route(rule_id, request)


RuleId = Annotated[str, Depends(_rule_id)]


@recurring.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RecurringOut,
    summary="Create a recurring expense or income",
)
async def create_rule(
    body: RecurringFields, user: CurrentUser, rules: RulesDep, response: Response
) -> RecurringOut:
    """Each occurrence becomes an ordinary expense (with `recurring_id`) on its date, "today"
    being in your time zone. A start date in the past creates every missed occurrence at once.
    Monthly on the 29th-31st falls on the last day of shorter months; yearly on 29 February on
    28 February in common years."""
    rule = recurring_out(await rules.create(user.user_id, body))
    response.headers["Location"] = f"/api/recurring/{rule.id}"
    response.headers["ETag"] = etag(rule.version)
    return rule


@recurring.get("", response_model=RecurringPage, summary="Your recurring rules, oldest first")
async def list_rules(
    user: CurrentUser, rules: RulesDep, limit: Limit = 50, offset: Offset = 0
) -> RecurringPage:
    docs, total = await rules.page(user.user_id, limit, offset)
    return RecurringPage(
        items=[recurring_out(doc) for doc in docs], total=total, limit=limit, offset=offset
    )


@recurring.get("/{rule_id}", response_model=RecurringOut, summary="A rule and its next dates")
async def read_rule(
    rule_id: RuleId, user: CurrentUser, rules: RulesDep, response: Response
) -> RecurringOut:
    rule = recurring_out(await rules.owned(user.user_id, rule_id))
    response.headers["ETag"] = etag(rule.version)
    return rule


@recurring.patch(
    "/{rule_id}",
    response_model=RecurringOut,
    summary="Pause or resume, skip the next occurrence, or change future occurrences",
    responses=PRECONDITION,
)
async def patch_rule(
    rule_id: RuleId,
    body: RecurringPatch,
    user: CurrentUser,
    rules: RulesDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> RecurringOut:
    """What a rule already created stays as it is. Occurrences that fall due while a rule is
    paused are not created when it resumes."""
    rule = recurring_out(await rules.change(user.user_id, rule_id, body, IfMatch.parse(if_match)))
    response.headers["ETag"] = etag(rule.version)
    return rule


@recurring.delete(
    "/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a rule (the expenses it created stay)",
    responses=PRECONDITION,
)
async def delete_rule(
    rule_id: RuleId, user: CurrentUser, rules: RulesDep, if_match: IfMatchHeader = None
) -> None:
    await rules.delete(user.user_id, rule_id, IfMatch.parse(if_match))
