"""Recurring expenses and income: the rules, and the scheduler that turns them into expenses.

A rule is stored with the index of its next occurrence and when that falls due (midnight of
its date in the user's time zone, ``due_at``). The scheduler (shared.scheduler, one per
expense_service process) creates what is due, in order, a batch per transaction: the batch's
expenses, their events and the rule's advance commit together, and the advance is a
compare-and-set on the rule's ``version``. So two replicas, a restart in the middle, or an edit
while a rule is due can never create an occurrence twice; and each occurrence has a
deterministic id (rule id + index), which the ledger's primary key refuses to store twice
should anything else ever try.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from expense_service import counts
from expense_service.ledger import Ledger, mark_has_data
from expense_service.models import (
    ExpenseFields,
    RecurringFields,
    RecurringOut,
    RecurringPatch,
)
from expense_service.schedule import Frequency, Schedule
from expense_service.storage import expense_document, snapshot
from shared import clock
from shared.errors import InvalidError, NotFoundError
from shared.etags import IfMatch
from shared.events import ExpenseCreated, ExpensesImported, ExpenseSnapshot
from shared.money import from_cents
from shared.mongo import Database, Document, utcnow
from shared.month import Month
from shared.scheduler import Scheduler
from shared.uow import Transactions, UnitOfWork
from shared.users import user_profile

log = logging.getLogger(__name__)

OCCURRENCE_NAMESPACE = uuid.UUID("6f1d8a52-3c0e-4f7b-9a51-2b7e1c9d4e10")
BATCH = 50  # occurrences per transaction when catching up
CLAIM_SECONDS = 10.0
MAX_CATCH_UP = 1000  # occurrences a new rule may create at once
UPCOMING = 5
# Fields an occurrence copies from its rule (the rest of an expense is its date and ids).
RECORDED = ("kind", "amount_cents", "currency", "base_amount_cents", "category", "description")


def occurrence_id(rule_id: str, index: int) -> str:
    return str(uuid.uuid5(OCCURRENCE_NAMESPACE, f"{rule_id}/{index}"))


def schedule_of(rule: Document) -> Schedule:
    return Schedule(
        frequency=Frequency(rule["frequency"]),
        interval=rule["interval"],
        start=date.fromisoformat(rule["start_date"]),
        end=date.fromisoformat(rule["end_date"]) if rule.get("end_date") else None,
        count=rule.get("count"),
    )


def due_at(when: date | None, timezone: str, paused: bool) -> datetime | None:
    """Midnight of ``when`` in the user's time zone: "today" is theirs."""
    if when is None or paused:
        return None
    return datetime.combine(when, time(0), ZoneInfo(timezone)).astimezone(UTC)


def advanced(rule: Document, index: int, timezone: str) -> dict[str, Any]:
    """The fields that place a rule at occurrence ``index``."""
    when = schedule_of(rule).occurrence(index)
    return {
        "next_index": index,
        "next_date": when.isoformat() if when else None,
        "due_at": due_at(when, timezone, rule["paused"]),
    }


def recurring_out(rule: Document) -> RecurringOut:
    schedule = schedule_of(rule)
    return RecurringOut(
        id=rule["_id"],
        kind=rule["kind"],
        amount=from_cents(rule["amount_cents"]),
        currency=rule["currency"],
        base_amount=from_cents(rule["base_amount_cents"]),
        category=rule["category"],
        description=rule["description"],
        tags=rule["tags"],
        frequency=rule["frequency"],
        interval=rule["interval"],
        start_date=schedule.start,
        end_date=schedule.end,
        count=schedule.count,
        paused=rule["paused"],
        next_date=date.fromisoformat(rule["next_date"]) if rule["next_date"] else None,
        upcoming=schedule.upcoming(rule["next_index"], UPCOMING),
        created=rule["created"],
        created_at=rule["created_at"],
        updated_at=rule["updated_at"],
        version=rule["version"],
    )


def not_found(rule_id: str) -> NotFoundError:
    return NotFoundError(f"no recurring rule {rule_id}")


class _RuleMovedError(Exception):
    """The rule changed (another replica advanced it, or the user edited it) since it was read."""


@dataclass
class RecurringRules:
    ledger: Ledger
    scheduler: Scheduler | None = None

    @property
    def db(self) -> Database:
        return self.ledger.db

    @property
    def transactions(self) -> Transactions:
        return self.ledger.transactions

    # -- the API's side ------------------------------------------------------------------------

    async def recorded_fields(self, user_id: str, body: RecurringFields) -> dict[str, Any]:
        """What each occurrence records, checked as an expense's fields are."""
        as_expense = ExpenseFields.model_validate(
            {
                **body.model_dump(include=set(ExpenseFields.model_fields)),
                "date": body.start_date,
            }
        )
        fields = await self.ledger.stored_fields(user_id, as_expense)
        return {k: fields[k] for k in (*RECORDED, "tags")}

    async def create(self, user_id: str, body: RecurringFields) -> Document:
        profile = await self.ledger.profile(user_id)
        recorded = await self.recorded_fields(user_id, body)
        today = clock.now().astimezone(ZoneInfo(profile["timezone"])).date()
        schedule = Schedule(
            body.frequency, body.interval, body.start_date, body.end_date, body.count
        )
        if len(schedule.due(0, today, MAX_CATCH_UP + 1)) > MAX_CATCH_UP:
            raise InvalidError(
                f"this rule would create more than {MAX_CATCH_UP} entries at once (every "
                "occurrence since its start date); start it later"
            )
        now = utcnow()
        rule: Document = {
            "_id": str(uuid.uuid4()),
            "user_id": user_id,
            **recorded,
            "frequency": body.frequency.value,
            "interval": body.interval,
            "start_date": body.start_date.isoformat(),
            "end_date": body.end_date.isoformat() if body.end_date else None,
            "count": body.count,
            "paused": False,
            "created": 0,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        rule.update(advanced(rule, 0, profile["timezone"]))

        async def write(uow: UnitOfWork) -> None:
            # A rule is data in the user's currency, as an expense is: it fixes the currency.
            if not profile.get("has_data"):
                await mark_has_data(uow, user_id, profile["currency"])
            await uow.db.recurring.insert_one(rule, session=uow.session)
            self._wake_after(uow)

        await self.transactions.run(write)
        return rule

    async def owned(self, user_id: str, rule_id: str) -> Document:
        rule = await self.db.recurring.find_one({"_id": rule_id, "user_id": user_id})
        if rule is None:
            raise not_found(rule_id)
        return rule

    async def page(self, user_id: str, limit: int, offset: int) -> tuple[list[Document], int]:
        query = {"user_id": user_id}
        total = await self.db.recurring.count_documents(query)
        cursor = self.db.recurring.find(query).sort([("created_at", 1), ("_id", 1)])
        return [doc async for doc in cursor.skip(offset).limit(limit)], total

    async def change(
        self, user_id: str, rule_id: str, patch: RecurringPatch, if_match: IfMatch | None
    ) -> Document:
        changes = patch.model_dump(exclude_unset=True)
        current = await self.owned(user_id, rule_id)
        recorded: dict[str, Any] = {}
        money = {"amount", "currency", "base_amount", "category", "description", "tags"}
        if money & changes.keys():
            merged = {
                "amount": from_cents(current["amount_cents"]),
                "currency": current["currency"],
                "base_amount": from_cents(current["base_amount_cents"]),
                "category": current["category"],
                "description": current["description"],
                "tags": current["tags"],
                "kind": current["kind"],
                "frequency": current["frequency"],
                "start_date": current["start_date"],
            }
            if ("amount" in changes or "currency" in changes) and "base_amount" not in changes:
                merged["base_amount"] = None
            merged.update({k: v for k, v in changes.items() if k in money})
            body = RecurringFields.model_validate(merged)
            recorded = await self.recorded_fields(user_id, body)
        profile = await self.ledger.profile(user_id)

        async def write(uow: UnitOfWork) -> Document:
            rule = await uow.db.recurring.find_one(
                {"_id": rule_id, "user_id": user_id}, session=uow.session
            )
            if rule is None:
                raise not_found(rule_id)
            if if_match is not None:
                if_match.check(rule["version"])
            updated = {**rule, **recorded}
            index = rule["next_index"] + (1 if changes.get("skip_next") else 0)
            if "paused" in changes:
                updated["paused"] = changes["paused"]
                if rule["paused"] and not changes["paused"]:
                    # What fell due while paused is not created: resumed from today on.
                    today = clock.now().astimezone(ZoneInfo(profile["timezone"])).date()
                    index = schedule_of(rule).first_from(index, today)
            updated.update(advanced(updated, index, profile["timezone"]))
            updated.update(updated_at=utcnow(), version=rule["version"] + 1)
            result = await uow.db.recurring.replace_one(
                {"_id": rule_id, "version": rule["version"]}, updated, session=uow.session
            )
            if result.matched_count != 1:
                raise not_found(rule_id)
            self._wake_after(uow)
            return updated

        return await self.transactions.run(write)

    async def delete(self, user_id: str, rule_id: str, if_match: IfMatch | None) -> None:
        """Deletes the rule; the expenses it created stay (they are the user's history)."""

        async def write(uow: UnitOfWork) -> None:
            if if_match is not None:
                found = await uow.db.recurring.find_one(
                    {"_id": rule_id, "user_id": user_id}, {"version": 1}, session=uow.session
                )
                if found is not None:
                    if_match.check(found["version"])
            result = await uow.db.recurring.delete_one(
                {"_id": rule_id, "user_id": user_id}, session=uow.session
            )
            if result.deleted_count != 1:
                raise not_found(rule_id)

        await self.transactions.run(write)

    def _wake_after(self, uow: UnitOfWork) -> None:
        if self.scheduler is not None:
            uow.after_commit(self.scheduler.wake)

    # -- the scheduler's side ------------------------------------------------------------------

    async def tick(self, now: datetime, horizon: datetime) -> datetime | None:
        """Creates what is due by ``now``; returns the next due time before ``horizon``."""
        upcoming: list[datetime] = []
        due: list[str] = []
        async for rule in self.db.recurring.find({"due_at": {"$lte": horizon}}, {"due_at": 1}):
            if rule["due_at"] <= now:
                due.append(rule["_id"])
            else:
                upcoming.append(rule["due_at"])
        for rule_id in due:
            try:
                busy_until = await self.catch_up(rule_id, now)
            except Exception:
                log.exception("recurring rule %s: occurrences not created; retried", rule_id)
                busy_until = now + timedelta(seconds=5)
            if busy_until is not None:
                upcoming.append(busy_until)
        return min(upcoming, default=None)

    async def catch_up(self, rule_id: str, now: datetime) -> datetime | None:
        """Creates every occurrence of the rule due by ``now`` that does not exist yet, in
        batches. The rule is claimed first, so that replicas do not all work on one rule at
        once (the compare-and-set keeps them correct, the claim keeps them from wasting each
        other's work); a claim lasts CLAIM_SECONDS (real time: clocks may differ in tests),
        renewed by each batch, so a crashed process's rules are taken over soon. Returns,
        when another process holds the claim, when to look again."""
        claim = utcnow() + timedelta(seconds=CLAIM_SECONDS)

        async def take(uow: UnitOfWork) -> Document | None:
            # In a transaction, not as a plain write: a process killed in the middle of a
            # batch leaves its transaction open (the server reaps it after 60 s), holding the
            # rule's document. The embedded server retries a plain write that conflicts with it
            # without end, and reaps only when some transaction runs; a transaction's write
            # fails at once, is retried here with backoff, and lets the server reap.
            taken: Document | None = await uow.db.recurring.find_one_and_update(
                {
                    "_id": rule_id,
                    "due_at": {"$lte": now},
                    "$or": [{"claimed_until": None}, {"claimed_until": {"$lte": utcnow()}}],
                },
                {"$set": {"claimed_until": claim}},
                return_document=ReturnDocument.AFTER,
                session=uow.session,
            )
            return taken

        rule = await self.transactions.run(take)
        if rule is None:
            held = await self.db.recurring.find_one({"_id": rule_id}, {"claimed_until": 1})
            if held is None or held.get("claimed_until") is None:
                return None  # done by another, or deleted
            held_until: datetime = held["claimed_until"]
            return now + (held_until - utcnow())  # on this process's clock
        try:
            while rule is not None and rule.get("due_at") is not None and rule["due_at"] <= now:
                profile = await user_profile(self.db, rule["user_id"])
                if profile is None:
                    return None  # the account is being deleted
                today = now.astimezone(ZoneInfo(profile["timezone"])).date()
                batch = schedule_of(rule).due(rule["next_index"], today, BATCH)

                async def record(
                    uow: UnitOfWork,
                    rule: Document = rule,
                    batch: list[tuple[int, date]] = batch,
                    timezone: str = profile["timezone"],
                ) -> None:
                    await self._record(uow, rule, batch, timezone)

                with (
                    contextlib.suppress(_RuleMovedError, DuplicateKeyError),
                    counts.writing(rule["user_id"]),
                ):
                    await self.transactions.run(record)
                rule = await self.db.recurring.find_one({"_id": rule_id})
        finally:
            await self.db.recurring.update_one(
                {"_id": rule_id, "claimed_until": {"$gte": claim}},
                {"$set": {"claimed_until": None}},
            )
        return None

    async def _record(
        self, uow: UnitOfWork, rule: Document, batch: list[tuple[int, date]], timezone: str
    ) -> None:
        next_index = batch[-1][0] + 1 if batch else rule["next_index"]
        moved = await uow.db.recurring.update_one(
            {"_id": rule["_id"], "version": rule["version"]},
            {
                "$set": {
                    **advanced(rule, next_index, timezone),
                    "updated_at": utcnow(),
                    "claimed_until": utcnow() + timedelta(seconds=CLAIM_SECONDS),
                },
                "$inc": {"version": 1, "created": len(batch)},
            },
            session=uow.session,
        )
        if moved.matched_count != 1:
            raise _RuleMovedError
        if not batch:
            return
        user_id = rule["user_id"]
        docs = [
            {
                **expense_document(
                    user_id,
                    occurrence_id(rule["_id"], index),
                    {
                        **{k: rule[k] for k in RECORDED},
                        "tags": list(rule["tags"]),
                        "date": when.isoformat(),
                        "month": Month.key_of(when),
                    },
                ),
                "recurring_id": rule["_id"],
            }
            for index, when in batch
        ]
        await uow.db.expenses.insert_many(docs, session=uow.session)
        counts.change(uow, user_id, added=docs)
        if len(docs) == 1:
            uow.emit(ExpenseCreated(**snapshot(docs[0])), user_id=user_id)
        else:  # a catch-up: one event for the batch, as an import's (consumers apply it in bulk)
            uow.emit(
                ExpensesImported(expenses=[ExpenseSnapshot(**snapshot(doc)) for doc in docs]),
                user_id=user_id,
            )
