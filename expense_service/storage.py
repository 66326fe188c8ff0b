"""expense_service's database ``expenses``: expenses, categories, idempotency keys, import
fingerprints, and the local user profiles (shared.users)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, TypedDict

from pymongo import ASCENDING, DESCENDING

from expense_service.models import ExpenseOut, Kind, SortOrder
from shared.events import ExpenseSnapshot
from shared.money import from_cents
from shared.mongo import Database, Document, utcnow
from shared.month import Month
from shared.uow import Transactions, UnitOfWork

IDEMPOTENCY_KEY_SECONDS = 24 * 3600
MONTHS = "months"  # on the local profile: entries per month (ledger.count_months)
# ...and whether those counts cover every entry: set at registration, or by backfill_months for
# accounts older than the counts. Pages use the counts only when it is set.
MONTHS_COUNTED = "months_counted"
IMPORT_JOB_SECONDS = 7 * 24 * 3600  # an import's status stays readable for a week


async def create_indexes(db: Database) -> None:
    by_user = ("user_id", ASCENDING)
    # The list and its month/range filters, sorted by date with _id as the tie-break.
    await db.expenses.create_index([by_user, ("date", ASCENDING), ("_id", ASCENDING)])
    for field in ("category", "tags", "kind"):
        await db.expenses.create_index([by_user, (field, ASCENDING), ("date", ASCENDING)])
    await db.expenses.create_index([by_user, ("base_amount_cents", ASCENDING), ("_id", ASCENDING)])
    await db.categories.create_index([by_user, ("key", ASCENDING)], unique=True)
    await db.idempotency_keys.create_index("user_id")
    await db.idempotency_keys.create_index("created_at", expireAfterSeconds=IDEMPOTENCY_KEY_SECONDS)
    await db.import_fingerprints.create_index("user_id")
    await db.import_jobs.create_index("user_id")
    await db.import_jobs.create_index("created_at", expireAfterSeconds=IMPORT_JOB_SECONDS)
    await db.budgets.create_index([by_user, ("month", ASCENDING)])
    await db.suggestion_words.create_index("user_id")
    await db.recurring.create_index([by_user, ("created_at", ASCENDING)])
    # The recurring scheduler's one query: what falls due before a horizon (null: paused, ended).
    await db.recurring.create_index("due_at", sparse=True)


async def purge_user(uow: UnitOfWork, user_id: str) -> None:
    for collection in (
        "expenses",
        "categories",
        "idempotency_keys",
        "import_fingerprints",
        "import_jobs",
        "budgets",
        "recurring",
        "suggestion_words",
    ):
        await uow.db[collection].delete_many({"user_id": user_id}, session=uow.session)


@dataclass(frozen=True)
class ExpenseFilter:
    """The list filters, shared by the list, the CSV export and their aliases."""

    month: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    category: str | None = None
    tag: str | None = None
    q: str | None = None
    min_amount_cents: int | None = None
    max_amount_cents: int | None = None
    kind: Kind | None = None

    def query(self, user_id: str) -> dict[str, Any]:
        """The Mongo filter. Upper bounds are written half-open (``$lt`` the next day or cent),
        which is exact for calendar dates and integer cents, because SecantusDB 0.7.0b3 treats
        ``$lte`` on a compound-index field that has further fields after it as exclusive."""
        query: dict[str, Any] = {"user_id": user_id}
        lower: list[date] = []
        upper: list[date] = []
        if self.month:
            first, last = Month.parse(self.month).bounds()
            lower.append(first)
            upper.append(last)
        if self.date_from:
            lower.append(self.date_from)
        if self.date_to:
            upper.append(self.date_to)
        dates: dict[str, str] = {}
        if lower:
            dates["$gte"] = max(lower).isoformat()
        if upper:
            dates["$lt"] = (min(upper) + timedelta(days=1)).isoformat()
        if dates:
            query["date"] = dates
        if self.category:
            query["category"] = self.category
        if self.tag:
            query["tags"] = self.tag
        if self.kind:
            query["kind"] = self.kind.value
        if self.q:
            query["description"] = {"$regex": re.escape(self.q), "$options": "i"}
        amounts: dict[str, int] = {}
        if self.min_amount_cents is not None:
            amounts["$gte"] = self.min_amount_cents
        if self.max_amount_cents is not None:
            amounts["$lt"] = self.max_amount_cents + 1
        if amounts:
            query["base_amount_cents"] = amounts
        return query


@dataclass(frozen=True)
class MonthWindow:
    """The part of the list a page falls in: whole months, and how many of their entries come
    before the page."""

    query: dict[str, Any]
    skip: int
    total: int


def month_window(
    user_id: str,
    months: dict[str, int],
    expense_filter: ExpenseFilter,
    order: SortOrder,
    limit: int,
    offset: int,
) -> MonthWindow | None:
    """Where a page by date lies, from the per-month counts, so that the query reads only the
    months the page shows, not the whole account (the embedded server reads every match of a
    sort + limit, and of a count). None when the counts cannot say: other filters, a date range
    that cuts months, sorting by amount, or counts that do not add up."""
    if order not in (SortOrder.DATE, SortOrder.DATE_DESC) or any(
        getattr(expense_filter, name) is not None
        for name in (
            "date_from",
            "date_to",
            "category",
            "tag",
            "q",
            "min_amount_cents",
            "max_amount_cents",
            "kind",
        )
    ):
        return None
    if any(n < 0 for n in months.values()):
        return None
    wanted = expense_filter.month
    counts = {m: n for m, n in months.items() if n > 0 and (wanted is None or m == wanted)}
    total = sum(counts.values())
    chosen: list[str] = []
    skip = offset
    for month in sorted(counts, reverse=order is SortOrder.DATE_DESC):
        if not chosen and skip >= counts[month]:
            skip -= counts[month]
            continue
        chosen.append(month)
        if sum(counts[m] for m in chosen) - skip >= limit:
            break
    if not chosen:
        return MonthWindow({"user_id": user_id, "_id": None}, 0, total)  # past the end
    first, _ = Month.parse(min(chosen)).bounds()
    _, last = Month.parse(max(chosen)).bounds()
    dates = {"$gte": first.isoformat(), "$lt": (last + timedelta(days=1)).isoformat()}
    return MonthWindow({"user_id": user_id, "date": dates}, skip, total)


async def backfill_months(db: Database, transactions: Transactions) -> int:
    """Counts the months of accounts from before the counts existed, each in one transaction
    with its expenses (a concurrent write conflicts and retries), once. Returns how many."""
    done = 0
    async for profile in db.users.find(
        {MONTHS_COUNTED: {"$ne": True}, "deleted": {"$ne": True}, "email": {"$exists": True}},
        {"_id": 1},
    ):

        async def count(uow: UnitOfWork, user_id: str = profile["_id"]) -> None:
            months: dict[str, int] = {}
            async for doc in uow.db.expenses.find(
                {"user_id": user_id}, {"month": 1}, session=uow.session
            ):
                months[doc["month"]] = months.get(doc["month"], 0) + 1
            await uow.db.users.update_one(
                {"_id": user_id},
                {"$set": {MONTHS: months, MONTHS_COUNTED: True}},
                session=uow.session,
            )

        await transactions.run(count)
        done += 1
    return done


def sort_spec(order: SortOrder) -> list[tuple[str, int]]:
    direction = DESCENDING if order.value.startswith("-") else ASCENDING
    field = "date" if order in (SortOrder.DATE, SortOrder.DATE_DESC) else "base_amount_cents"
    # _id breaks ties, so pages never repeat or skip an expense of equal date or amount.
    return [(field, direction), ("_id", direction)]


def new_expense_id() -> str:
    return str(uuid.uuid4())


def expense_document(user_id: str, expense_id: str, fields: dict[str, Any]) -> Document:
    now = utcnow()
    return {
        "_id": expense_id,
        "user_id": user_id,
        **fields,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


class StoredExpense(TypedDict, total=False):
    """An expense as stored in ``expenses``: integer cents, an ISO date string, its month."""

    _id: str
    user_id: str
    kind: str
    amount_cents: int
    currency: str
    base_amount_cents: int
    category: str
    description: str
    date: str
    month: str
    tags: list[str]
    version: int
    recurring_id: str
    category_suggested: bool
    created_at: datetime
    updated_at: datetime


Expense = StoredExpense | Document  # typed where read through Ledger.owned, plain elsewhere


def client_fields(doc: Expense) -> dict[str, Any]:
    """A stored expense as clients and events see it: decimals, a date, no storage names."""
    return {
        "kind": doc["kind"],
        "amount": from_cents(doc["amount_cents"]),
        "currency": doc["currency"],
        "base_amount": from_cents(doc["base_amount_cents"]),
        "category": doc["category"],
        "description": doc["description"],
        "date": date.fromisoformat(doc["date"]),
        "tags": doc["tags"],
        "version": doc["version"],
    }


def expense_out(doc: Expense) -> ExpenseOut:
    return ExpenseOut(
        id=doc["_id"],
        recurring_id=doc.get("recurring_id"),
        category_suggested=doc.get("category_suggested", False),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        **client_fields(doc),
    )


def snapshot(doc: Expense) -> dict[str, Any]:
    """The fields of an expense event (shared.events.ExpenseSnapshot) from a stored expense."""
    return ExpenseSnapshot(expense_id=doc["_id"], **client_fields(doc)).model_dump()


async def totals_by(
    db: Database, user_id: str, expense_filter: ExpenseFilter, field: Literal["month", "category"]
) -> dict[str, tuple[int, int]]:
    """Total (cents, in the user's currency) and count of the filtered expenses, by ``field``."""
    pipeline: list[dict[str, Any]] = [
        {"$match": expense_filter.query(user_id)},
        {
            "$group": {
                "_id": f"${field}",
                "total": {"$sum": "$base_amount_cents"},
                "count": {"$sum": 1},
            }
        },
    ]
    return {
        row["_id"]: (row["total"], row["count"])
        async for row in await db.expenses.aggregate(pipeline)
    }
