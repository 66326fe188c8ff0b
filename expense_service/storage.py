"""expense_service's database ``expenses``: expenses, categories, idempotency keys, import
fingerprints, and the local user profiles (shared.users)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, TypedDict

from pymongo import ASCENDING, DESCENDING

from expense_service import counts
from expense_service.models import ExpenseOut, Kind, SortOrder
from shared.budgets import HARD_LIMITS
from shared.events import ExpenseSnapshot
from shared.money import from_cents
from shared.mongo import Database, Document, utcnow
from shared.month import Month
from shared.uow import Transactions, UnitOfWork

Learn = Callable[[UnitOfWork, str, list[tuple[str, str, int]]], Awaitable[None]]

IDEMPOTENCY_KEY_SECONDS = 24 * 3600
# On the local profile: the account is up to date with what came later than it (its category
# model, its hard-limit mark): set at registration, or once by backfill_accounts.
UP_TO_DATE = "up_to_date"
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
    await counts.create_indexes(db)


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
        counts.COLLECTION,
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

    def dates(self) -> tuple[date | None, date | None]:
        """The first and last day the filter lets through (inclusive; None: open)."""
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
        return (max(lower) if lower else None, min(upper) if upper else None)

    @property
    def by_date_only(self) -> bool:
        """Whether only dates filter (month, from, to): whole days, which the tally counts."""
        return all(
            value is None
            for value in (
                self.category,
                self.tag,
                self.q,
                self.kind,
                self.min_amount_cents,
                self.max_amount_cents,
            )
        )

    def query(self, user_id: str) -> dict[str, Any]:
        """The Mongo filter. Upper bounds are written half-open (``$lt`` the next day or cent),
        which is exact for calendar dates and integer cents, because SecantusDB 0.7.0b3 treats
        ``$lte`` on a compound-index field that has further fields after it as exclusive."""
        query: dict[str, Any] = {"user_id": user_id}
        lowest, highest = self.dates()
        dates: dict[str, str] = {}
        if lowest:
            dates["$gte"] = lowest.isoformat()
        if highest:
            dates["$lt"] = (highest + timedelta(days=1)).isoformat()
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


async def backfill_accounts(db: Database, transactions: Transactions, learn: Learn) -> int:
    """Brings accounts from before these existed up to date, once each (``UP_TO_DATE`` marks
    it done), each in one transaction with its expenses (a concurrent write conflicts and
    retries): the category model learnt from every expense, and the hard-limit mark
    (shared.budgets) where the account has a hard-limit budget. Returns how many."""
    done = 0
    async for profile in db.users.find(
        {UP_TO_DATE: {"$ne": True}, "deleted": {"$ne": True}, "email": {"$exists": True}},
        {"_id": 1},
    ):

        async def bring(uow: UnitOfWork, user_id: str = profile["_id"]) -> None:
            labelled: list[tuple[str, str, int]] = []
            async for doc in uow.db.expenses.find(
                {"user_id": user_id}, {"description": 1, "category": 1}, session=uow.session
            ):
                labelled.append((doc["description"], doc["category"], 1))
            hard = await uow.db.budgets.find_one(
                {"user_id": user_id, "hard_limit": True, "deleted": {"$ne": True}},
                {"_id": 1},
                session=uow.session,
            )
            marks: dict[str, Any] = {UP_TO_DATE: True}
            if hard is not None:
                marks[HARD_LIMITS] = True
            await uow.db.users.update_one({"_id": user_id}, {"$set": marks}, session=uow.session)
            if labelled:
                await learn(uow, user_id, labelled)

        await transactions.run(bring)
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
