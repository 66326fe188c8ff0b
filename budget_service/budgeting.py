"""Budget writes, hard-limit reservations and status. Changes commit with their events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from budget_service.alerts import BASIS_POINTS, evaluate, forget_thresholds
from budget_service.events import catch_up
from budget_service.expense_client import ExpenseServiceClient
from budget_service.models import BudgetIn, BudgetOut, BudgetStatus, ReservationIn, State
from budget_service.storage import (
    budgets_changed,
    budgets_of,
    lock_month,
    read_month,
    spent_in,
    spent_with_reservations,
)
from shared.auth import Principal
from shared.budgets import Budget, budgets_in_force
from shared.errors import ConflictError, NotFoundError
from shared.etags import IfMatch
from shared.events import BudgetDeleted, BudgetUpserted
from shared.money import from_cents, percent, to_cents
from shared.mongo import Database, Document, utcnow
from shared.month import Month
from shared.types import BUILTIN_CATEGORIES
from shared.uow import Transactions, UnitOfWork
from shared.users import profile_and_now

RESERVATION_SECONDS = 60


def budget_out(doc: Budget | Document) -> BudgetOut:
    return BudgetOut(
        id=doc["_id"],
        month=doc["month"],
        category=doc["category"],
        amount=from_cents(doc["amount_cents"]),
        thresholds=[Decimal(bp) / BASIS_POINTS for bp in doc["thresholds_bp"]],
        repeat=doc["repeat"],
        hard_limit=doc["hard_limit"],
        version=doc["version"],
    )


class _BudgetGoneError(Exception):
    pass


class UnknownCategoryError(Exception):
    def __init__(self, category: str, known: set[str]) -> None:
        super().__init__(
            f"unknown category {category!r}; use one of {sorted(known)} "
            "or create it with POST /api/categories"
        )


def upserted_event(doc: Document) -> BudgetUpserted:
    return BudgetUpserted(**budget_out(doc).model_dump(exclude={"id"}), budget_id=doc["_id"])


def scope_name(category: str | None) -> str:
    return "overall" if category is None else repr(category)


@dataclass
class BudgetBook:
    db: Database
    transactions: Transactions
    expense_service: ExpenseServiceClient

    async def today(self, user_id: str) -> datetime:
        """Now in the user's time zone (their profile; UTC until it is known)."""
        _, now = await profile_and_now(self.db, user_id)
        return now

    async def owned(self, user_id: str, budget_id: str) -> Document:
        doc = await self.db.budgets.find_one({"_id": budget_id, "user_id": user_id})
        if doc is None:
            raise NotFoundError(f"no budget {budget_id}")
        return doc

    async def upsert(
        self, user: Principal, body: BudgetIn, if_match: IfMatch | None = None
    ) -> tuple[BudgetOut, bool]:
        """Creates the budget of (month, category), or updates it; returns it and whether it
        is new. Raises UnknownCategoryError for a category the user does not have, and
        PropagationError (writing nothing) when a hard limit cannot be made known to
        expense_service. ``if_match`` is checked against the stored budget inside the
        transaction (PreconditionFailedError)."""
        user_id = user.user_id
        if body.category is not None and body.category not in BUILTIN_CATEGORIES:
            known = await self.expense_service.categories(user.token)
            if body.category not in known:
                raise UnknownCategoryError(body.category, known)
        current_month = Month.key_of(await self.today(user_id))

        async def write(uow: UnitOfWork) -> tuple[Document, bool]:
            await lock_month(uow, user_id, body.month)
            existing = await uow.db.budgets.find_one(
                {"user_id": user_id, "month": body.month, "category": body.category},
                session=uow.session,
            )
            if if_match is not None:
                if existing is None:
                    raise _BudgetGoneError  # deleted since it was read
                if_match.check(existing["version"])
            fields = {
                "amount_cents": to_cents(body.amount),
                "thresholds_bp": [int(t * BASIS_POINTS) for t in body.thresholds],
                "repeat": body.repeat,
                "hard_limit": body.hard_limit,
            }
            if existing is None:
                doc = {
                    "_id": str(uuid.uuid4()),
                    "user_id": user_id,
                    "month": body.month,
                    "category": body.category,
                    **fields,
                    "version": 1,
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
                await uow.db.budgets.insert_one(doc, session=uow.session)
            else:
                doc = {
                    **existing,
                    **fields,
                    "version": existing["version"] + 1,
                    "updated_at": utcnow(),
                }
                await uow.db.budgets.replace_one({"_id": existing["_id"]}, doc, session=uow.session)
            await budgets_changed(uow, user_id, body.month)
            # Before the commit: a hard limit applies from the answer on, and a budget counts as
            # the account's data for a currency change (budget_service.expense_client).
            month_expenses = await self.expense_service.push_budget(user.token, upserted_event(doc))
            await catch_up(uow, user_id, month_expenses)
            await self._after_change(uow, existing, doc, current_month)
            return doc, existing is None

        # More attempts than most: the change waits on expense_service inside its transaction
        # (push_budget), a long window for write conflicts; during a large import on the
        # embedded server, 20 attempts sometimes ran out (503).
        doc, created = await self.transactions.run(write, attempts=50)
        return budget_out(doc), created

    async def patch(
        self,
        user: Principal,
        budget_id: str,
        changes: dict[str, Any],
        if_match: IfMatch | None = None,
    ) -> BudgetOut:
        budget = await self.owned(user.user_id, budget_id)
        if if_match is not None:
            if_match.check(budget["version"])
        merged = BudgetIn.model_validate(
            {
                "month": budget["month"],
                "category": budget["category"],
                "amount": from_cents(budget["amount_cents"]),
                "thresholds": [Decimal(bp) / BASIS_POINTS for bp in budget["thresholds_bp"]],
                "repeat": budget["repeat"],
                "hard_limit": budget["hard_limit"],
                **changes,
            }
        )
        try:
            out, _ = await self.upsert(user, merged, if_match)
        except _BudgetGoneError:
            raise NotFoundError(f"no budget {budget_id}") from None
        return out

    async def _after_change(
        self, uow: UnitOfWork, before: Document | None, after: Document, current_month: str
    ) -> None:
        uow.emit(upserted_event(after), user_id=after["user_id"])
        limit_changed = before is None or (before["amount_cents"], before["thresholds_bp"]) != (
            after["amount_cents"],
            after["thresholds_bp"],
        )
        if not limit_changed:
            return
        # A new or changed limit is checked against what is already spent: a budget set past
        # 80% alerts at once, thresholds no longer reached re-arm, and thresholds that stay
        # reached do not alert again. Thresholds removed from the budget are forgotten.
        if before is not None:
            removed = sorted(set(before["thresholds_bp"]) - set(after["thresholds_bp"]))
            await forget_thresholds(uow, after["user_id"], after["_id"], removed)
        months = {after["month"]}
        if after["repeat"] and current_month > after["month"]:
            months.add(current_month)
        for month in sorted(months):
            state = await lock_month(uow, after["user_id"], month)
            await evaluate(uow, state, {after["category"]})

    async def delete(self, user_id: str, budget_id: str, if_match: IfMatch | None = None) -> None:
        async def write(uow: UnitOfWork) -> None:
            budget = await uow.db.budgets.find_one(
                {"_id": budget_id, "user_id": user_id}, session=uow.session
            )
            if budget is None:
                raise NotFoundError(f"no budget {budget_id}")
            if if_match is not None:
                if_match.check(budget["version"])
            await lock_month(uow, user_id, budget["month"])
            await uow.db.budgets.delete_one({"_id": budget_id}, session=uow.session)
            await budgets_changed(uow, user_id, budget["month"])
            await forget_thresholds(uow, user_id, budget_id)
            uow.emit(
                BudgetDeleted(
                    budget_id=budget_id, month=budget["month"], category=budget["category"]
                ),
                user_id=user_id,
            )

        await self.transactions.run(write)

    async def reserve(self, user_id: str, request: ReservationIn) -> None:
        """Admits an expense under the hard limits in force, or refuses it with 409. Admitted,
        it is counted (reserved) until its event arrives, so concurrent expenses cannot all
        slip under the same remaining amount."""

        async def write(uow: UnitOfWork) -> None:
            month = await lock_month(uow, user_id, request.month)
            budgets = await budgets_of(uow, month)
            for category in (request.category, None):
                budget = budgets.get(category)
                if budget is None or not budget["hard_limit"]:
                    continue
                spent = await spent_with_reservations(
                    uow.db, month, category, request.expense_id, uow.session
                )
                limit = budget["amount_cents"]
                if spent + request.amount_cents > limit:
                    remaining = from_cents(max(0, limit - spent))
                    raise ConflictError(
                        f"over the hard limit of your {scope_name(category)} budget for "
                        f"{request.month} (budget {budget['_id']}): {remaining} of "
                        f"{from_cents(limit)} remain",
                    )
            await uow.db.reservations.replace_one(
                {"_id": request.expense_id},
                {
                    "user_id": user_id,
                    "month": request.month,
                    "category": request.category,
                    "amount_cents": request.amount_cents,
                    "version": request.version,
                    "expires_at": datetime.now(UTC) + timedelta(seconds=RESERVATION_SECONDS),
                },
                upsert=True,
                session=uow.session,
            )

        await self.transactions.run(write, attempts=50)

    async def status(self, user_id: str, month: str | None) -> list[BudgetStatus]:
        profile, today = await profile_and_now(self.db, user_id)
        month = month or Month.key_of(today)
        calendar_month, day = Month.parse(month), today.date()
        budgets = await budgets_in_force(self.db, user_id, month)
        spending = await read_month(self.db, user_id, month) if budgets else None
        out = []
        for category, budget in sorted(budgets.items(), key=lambda item: item[0] or ""):
            spent = spent_in(spending, category)
            limit = budget["amount_cents"]
            projected = calendar_month.pace(spent, day)
            days_left = calendar_month.days_left(day)
            first_bp = budget["thresholds_bp"][0]
            state = (
                State.EXCEEDED
                if spent >= limit
                else State.WARNING
                if spent * BASIS_POINTS >= first_bp * limit
                else State.OK
            )
            out.append(
                BudgetStatus(
                    budget_id=budget["_id"],
                    month=month,
                    repeated_from=budget["month"] if budget["month"] != month else None,
                    category=category,
                    amount=from_cents(limit),
                    spent=from_cents(spent),
                    remaining=from_cents(limit - spent),
                    percent_used=percent(spent, limit),
                    state=state,
                    projected_spend=from_cents(projected),
                    days_left=days_left,
                    hard_limit=budget["hard_limit"],
                    currency=profile["currency"] if profile else None,
                )
            )
        return out
