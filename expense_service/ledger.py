"""The ledger's writes. Every change and its event commit together (shared.outbox)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from pymongo.errors import PyMongoError

from expense_service import counts
from expense_service.csv_io import Entry
from expense_service.limits import HardLimits
from expense_service.models import ExpenseFields, ExpenseOut, ImportProblem
from expense_service.storage import (
    Expense,
    StoredExpense,
    client_fields,
    expense_document,
    expense_out,
    new_expense_id,
    snapshot,
)
from expense_service.suggest import Suggester, confidence
from shared.auth import Principal
from shared.budgets import HARD_LIMITS
from shared.errors import ConflictError, DomainError, InvalidError, NotFoundError, UnavailableError
from shared.etags import IfMatch
from shared.events import (
    ExpenseCreated,
    ExpenseDeleted,
    ExpensesImported,
    ExpenseSnapshot,
    ExpenseUpdated,
)
from shared.money import to_cents
from shared.mongo import Database, Document, utcnow
from shared.month import Month
from shared.types import BUILTIN_CATEGORIES
from shared.uow import Transactions, UnitOfWork
from shared.users import Profile, user_profile

PROFILE_WAIT_SECONDS = 3.0
# Rows per import transaction: 10,000 rows in about 9 s alone (bench.import_csv; 500 took 15 s,
# 2,000 about 8 s). The 20-70 s stalls other users' requests sometimes suffered during a large
# import happened at 1,000 and at 2,000 alike: their cause is in the embedded server (parked
# cursors pin the pages an insert must evict; one registry lock queues every transaction behind
# a slow statement, see #14), not the batch size.
IMPORT_BATCH = 1000
FALLBACK_CATEGORY = "other"  # an imported row without a category, and no confident suggestion


def unprocessable(detail: str) -> InvalidError:
    return InvalidError(detail)


def not_found(expense_id: str) -> NotFoundError:
    # Another user's expense is "not found" too: ids must not reveal what exists.
    return NotFoundError(f"no expense {expense_id}")


class _KeyTakenError(Exception):
    """Leaves (aborting) a create whose idempotency key another request stored first."""


@dataclass
class Ledger:
    db: Database
    transactions: Transactions
    limits: HardLimits
    suggester: Suggester | None = None
    # A suggestion at least this sure files an expense that came without a category.
    file_at_confidence: float = 0.7

    # -- reading what a write needs ----------------------------------------------------------

    async def user_currency(self, user_id: str) -> str:
        return str((await self.profile(user_id))["currency"])

    async def profile(self, user_id: str) -> Profile:
        """The user's local profile, fed by user events. Right after registration the event
        may still be on its way, so wait for it a little."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROFILE_WAIT_SECONDS
        while True:
            profile = await user_profile(self.db, user_id)
            if profile is not None:
                return profile
            if loop.time() > deadline:
                raise UnavailableError(
                    "your profile has not reached the expense service yet; retry shortly"
                )
            await asyncio.sleep(0.05)

    async def categories(self, user_id: str) -> set[str]:
        own = {doc["key"] async for doc in self.db.categories.find({"user_id": user_id})}
        return set(BUILTIN_CATEGORIES) | own

    async def filed(
        self, user_id: str, bodies: list[ExpenseFields]
    ) -> list[tuple[ExpenseFields, bool] | str]:
        """Each body with a category: its own, or (True) the suggestion when it is confident;
        where there is none, why not. One model read for all of them (an import)."""
        missing = [body.description for body in bodies if body.category is None]
        rankings: list[list[tuple[str, float]]] = [[] for _ in missing]
        if missing and self.suggester is not None:
            known = await self.categories(user_id)  # not a category deleted since it was learnt
            rankings = [
                [(c, p) for c, p in ranking if c in known]
                for ranking in await self.suggester.suggest_many(user_id, missing)
            ]
        filed: list[tuple[ExpenseFields, bool] | str] = []
        suggestions = iter(rankings)
        for body in bodies:
            if body.category is not None:
                filed.append((body, False))
                continue
            ranking = next(suggestions)
            if ranking and ranking[0][1] >= self.file_at_confidence:
                filed.append((body.model_copy(update={"category": ranking[0][0]}), True))
            elif ranking:
                best, sure = ranking[0]
                filed.append(
                    f"category is required: the best suggestion, {best!r}, is only "
                    f"{confidence(sure)} sure (at least {self.file_at_confidence} files it)"
                )
            else:
                filed.append("category is required (no suggestion without a description)")
        return filed

    async def stored_fields(
        self,
        user_id: str,
        body: ExpenseFields,
        known_categories: set[str] | None = None,
        currency: str | None = None,
    ) -> dict[str, Any]:
        """Checks what a model cannot check alone, and returns the fields as stored."""
        user_currency = currency or await self.user_currency(user_id)
        expense_currency = body.currency or user_currency
        if expense_currency == user_currency:
            if body.base_amount is not None and body.base_amount != body.amount:
                raise unprocessable(
                    f"base_amount must equal amount for an expense in your own currency "
                    f"({user_currency})"
                )
            base_amount = body.amount
        else:
            if body.base_amount is None:
                raise unprocessable(
                    f"base_amount (the amount in your currency, {user_currency}) is required "
                    f"for an expense in {expense_currency}"
                )
            base_amount = body.base_amount
        if body.category is None:
            raise unprocessable("category is required")
        # A built-in category needs no read of the user's own.
        if body.category not in BUILTIN_CATEGORIES and body.category not in (
            categories := known_categories or await self.categories(user_id)
        ):
            raise unprocessable(
                f"unknown category {body.category!r}; use one of {sorted(categories)} "
                "or create it with POST /api/categories"
            )
        return {
            "kind": body.kind.value,
            "amount_cents": to_cents(body.amount),
            "currency": expense_currency,
            "base_amount_cents": to_cents(base_amount),
            "category": body.category,
            "description": body.description,
            "date": body.date.isoformat(),
            "month": Month.key_of(body.date),
            "tags": body.tags,
        }

    async def owned(self, user_id: str, expense_id: str) -> StoredExpense:
        doc = await self.db.expenses.find_one({"_id": expense_id, "user_id": user_id})
        if doc is None:
            raise not_found(expense_id)
        return cast(StoredExpense, doc)

    # -- writes -------------------------------------------------------------------------------

    async def create(
        self, user: Principal, body: ExpenseFields, idempotency_key: str | None
    ) -> tuple[ExpenseOut, bool]:
        """Stores one expense; returns it and whether it is new (False: an idempotent replay)."""
        user_id = user.user_id
        key_id = f"{user_id}:{idempotency_key}" if idempotency_key else None
        request_hash = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        profile = await self.profile(user_id)
        (filed,) = await self.filed(user_id, [body])
        if isinstance(filed, str):
            raise unprocessable(filed)
        body, suggested = filed
        fields = await self.stored_fields(user_id, body, currency=profile["currency"])
        if suggested:
            fields["category_suggested"] = True
        expense_id = new_expense_id()
        admitted = False
        for _ in range(50):
            if key_id is not None:
                replay = await self._replay(key_id, request_hash)
                if replay is not None:
                    return replay, False
            if not admitted and profile.get(HARD_LIMITS):  # else no budget can refuse it
                await self.limits.admit(user_id, user.token, expense_id, 1, fields)
            admitted = True
            doc = expense_document(user_id, expense_id, fields)

            async def write(uow: UnitOfWork, doc: Document = doc) -> None:
                # One round trip for the writes (queued) and one for the commit; a first
                # expense also marks the profile, which must match.
                if not profile.get("has_data"):
                    await mark_has_data(uow, user_id, profile["currency"])
                if key_id is not None:
                    key = {
                        "_id": key_id,
                        "user_id": user_id,
                        "request_hash": request_hash,
                        "expense_id": doc["_id"],
                        "created_at": utcnow(),
                    }
                    uow.queue_insert(uow.db.idempotency_keys, key, on_duplicate=_KeyTakenError)
                uow.queue_insert(uow.db.expenses, doc)
                counts.change(uow, user_id, added=[doc])
                uow.emit(ExpenseCreated(**snapshot(doc)), user_id=user_id)

            try:
                with counts.writing(user_id):
                    await self.transactions.run(write)
            except _KeyTakenError:
                await asyncio.sleep(0.01)
                continue
            return expense_out(doc), True
        raise ConflictError("another request with this Idempotency-Key is still in progress")

    async def _replay(self, key_id: str, request_hash: str) -> ExpenseOut | None:
        stored = await self.db.idempotency_keys.find_one({"_id": key_id})
        if stored is None:
            return None
        if stored["request_hash"] != request_hash:
            raise unprocessable("this Idempotency-Key was used with a different request body")
        doc = await self.db.expenses.find_one({"_id": stored["expense_id"]})
        if doc is None:
            raise ConflictError("the expense created with this Idempotency-Key has been deleted")
        return expense_out(doc)

    async def replace(
        self,
        user: Principal,
        current: StoredExpense,
        fields: dict[str, Any],
        if_match: IfMatch | None = None,
    ) -> ExpenseOut:
        """Writes new stored fields over ``current``, an expense of the user's as read by
        ``owned`` (PUT, and PATCH after merging). The write re-reads it in its transaction,
        where ``if_match`` is checked (PreconditionFailedError)."""
        user_id, expense_id = user.user_id, current["_id"]
        if if_match is not None:
            if_match.check(current["version"])  # fail fast, before asking about hard limits
        await self.limits.admit(user_id, user.token, expense_id, current["version"] + 1, fields)

        async def write(uow: UnitOfWork) -> Document:
            current = await uow.db.expenses.find_one(
                {"_id": expense_id, "user_id": user_id}, session=uow.session
            )
            if current is None:
                raise not_found(expense_id)
            if if_match is not None:
                if_match.check(current["version"])
            return await apply_change(uow, current, fields)

        with counts.writing(user_id):
            return expense_out(await self.transactions.run(write))

    async def delete(self, user_id: str, expense_id: str, if_match: IfMatch | None = None) -> None:
        async def write(uow: UnitOfWork) -> None:
            if if_match is not None:
                found = await uow.db.expenses.find_one(
                    {"_id": expense_id, "user_id": user_id}, {"version": 1}, session=uow.session
                )
                if found is not None:
                    if_match.check(found["version"])
            doc = await uow.db.expenses.find_one_and_delete(
                {"_id": expense_id, "user_id": user_id}, session=uow.session
            )
            if doc is None:
                raise not_found(expense_id)
            counts.change(uow, user_id, removed=[doc])
            gone = {**doc, "version": doc["version"] + 1}
            uow.emit(ExpenseDeleted(**snapshot(gone)), user_id=user_id)

        with counts.writing(user_id):
            await self.transactions.run(write)

    async def delete_category(self, user_id: str, category_id: str, move_to: str) -> int:
        """Deletes one of the user's categories; its expenses move to ``move_to`` (each an
        ordinary expense.updated). Returns how many moved."""

        async def write(uow: UnitOfWork) -> int:
            category = await uow.db.categories.find_one_and_delete(
                {"_id": category_id, "user_id": user_id}, session=uow.session
            )
            if category is None:
                raise NotFoundError(f"no category {category_id}")
            if move_to == category["key"]:
                raise unprocessable("move_to must be another category")
            before, after = [], []
            async for doc in uow.db.expenses.find(
                {"user_id": user_id, "category": category["key"]}, session=uow.session
            ):
                before.append(doc)
                after.append(await apply_change(uow, doc, {"category": move_to}, count=False))
            counts.change(uow, user_id, removed=before, added=after)  # one write for all
            moved = len(after)
            # Recurring rules file their future occurrences there too.
            await uow.db.recurring.update_many(
                {"user_id": user_id, "category": category["key"]},
                {"$set": {"category": move_to, "updated_at": utcnow()}, "$inc": {"version": 1}},
                session=uow.session,
            )
            return moved

        if move_to not in await self.categories(user_id):
            raise unprocessable(f"unknown category {move_to!r} for move_to")
        with counts.writing(user_id):
            return await self.transactions.run(write)

    async def import_rows(
        self,
        user: Principal,
        entries: Iterable[Entry],
        progress: Progress | None = None,
    ) -> ImportOutcome:
        """Imports a file's rows (each its line and its fields, or what is wrong with it) in
        batches, each batch one transaction with one ``expenses.imported`` event, reading the
        rows only as each batch is prepared: a large file is never held as expenses all at once.
        A row's fingerprint is its content plus how many equal rows came before it in the file,
        so two identical coffees on one day both import, once, and importing a file again (after
        an interruption, say) adds only what is missing. A category the file names that the user
        does not have is created with the first batch that files a row under it. A row under a
        hard-limit budget is admitted (or refused) like any other expense. Raises
        ImportInterruptedError, saying how far it got, if a batch cannot be written."""
        user_id = user.user_id
        profile = await self.profile(user_id)
        prepare = _ImportPreparation(
            user=user,
            currency=str(profile["currency"]),
            categories=await self.categories(user_id),
            hard_limit_applies=await self.limits.checker(user_id),
        )
        outcome = prepare.outcome
        read = 0
        rows = iter(entries)
        while chunk := list(itertools.islice(rows, IMPORT_BATCH)):
            read += len(chunk)
            batch = await self._prepare_batch(prepare, chunk)
            if batch:
                # Created with the batch that first files a row under them, not before.
                used = {fields["category"] for _, _, fields in batch}
                new = [name for name in prepare.named if name in used]
                first = not prepare.written()

                async def write(
                    uow: UnitOfWork,
                    batch: list[tuple[int, str, dict[str, Any]]] = batch,
                    new: list[str] = new,
                    first: bool = first,
                ) -> int:
                    if first and not profile.get("has_data"):
                        await mark_has_data(uow, user_id, prepare.currency)
                    return await self._import_batch(uow, user_id, batch, new)

                try:
                    with counts.writing(user_id):
                        added = await self.transactions.run(write)
                except (PyMongoError, CurrencyChangedError) as exc:
                    raise ImportInterruptedError(outcome, batch[0][0], repr(exc)) from exc
                prepare.named = [name for name in prepare.named if name not in used]
                outcome.created_categories += new
                outcome.imported += added
                outcome.skipped += len(batch) - added
            if progress is not None:
                await progress(outcome, read)
        return outcome

    async def _prepare_batch(
        self, prepare: _ImportPreparation, chunk: list[Entry]
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """A chunk's valid rows as stored, each with its line and fingerprint; the others are
        added to the outcome's problems."""
        user_id = prepare.user.user_id
        outcome = prepare.outcome
        rows: list[tuple[int, ExpenseFields]] = []
        for line, entry in chunk:
            if isinstance(entry, ImportProblem):
                outcome.problems.append(entry)
            else:
                rows.append((line, entry))
        batch: list[tuple[int, str, dict[str, Any]]] = []
        filed = await self.filed(user_id, [body for _, body in rows])
        for (line, body), category in zip(rows, filed, strict=True):
            suggested = False
            if isinstance(category, str):
                body = body.model_copy(update={"category": FALLBACK_CATEGORY})
            else:
                body, suggested = category
            assert body.category is not None
            if body.category not in prepare.categories:
                prepare.categories.add(body.category)
                prepare.named.append(body.category)
            try:
                fields = await self.stored_fields(
                    user_id, body, prepare.categories, prepare.currency
                )
            except DomainError as exc:
                outcome.problems.append(ImportProblem(line=line, detail=exc.detail))
                continue
            if suggested:
                fields["category_suggested"] = True
            content = hashlib.sha256(repr(sorted(fields.items())).encode()).digest()
            prepare.seen[content] = prepare.seen.get(content, 0) + 1
            key = f"{user_id}:{content.hex()}:{prepare.seen[content]}"
            if fields["kind"] == "expense" and prepare.hard_limit_applies(
                fields["month"], fields["category"]
            ):
                if await self.db.import_fingerprints.find_one({"_id": key}):
                    batch.append((line, key, fields))  # imported before: skipped below
                    continue
                try:
                    fields["_id"] = new_expense_id()
                    await self.limits.admit(user_id, prepare.user.token, fields["_id"], 1, fields)
                except DomainError as exc:
                    outcome.problems.append(ImportProblem(line=line, detail=exc.detail))
                    continue
            batch.append((line, key, fields))
        return batch

    async def _import_batch(
        self,
        uow: UnitOfWork,
        user_id: str,
        batch: list[tuple[int, str, dict[str, Any]]],
        new_categories: list[str],
    ) -> int:
        for name in new_categories:
            await uow.db.categories.update_one(
                {"user_id": user_id, "key": name},
                {"$setOnInsert": {"_id": str(uuid.uuid4()), "created_at": utcnow()}},
                upsert=True,
                session=uow.session,
            )
        keys = [key for _, key, _ in batch]
        known = {
            doc["_id"]
            async for doc in uow.db.import_fingerprints.find(
                {"_id": {"$in": keys}}, {"_id": 1}, session=uow.session
            )
        }
        docs, fingerprints = [], []
        for _, key, fields in batch:
            if key in known:
                continue
            stored = {k: v for k, v in fields.items() if k != "_id"}
            doc = expense_document(user_id, fields.get("_id") or new_expense_id(), stored)
            docs.append(doc)
            fingerprints.append({"_id": key, "user_id": user_id, "expense_id": doc["_id"]})
        if docs:
            await uow.db.import_fingerprints.insert_many(fingerprints, session=uow.session)
            await uow.db.expenses.insert_many(docs, session=uow.session)
            counts.change(uow, user_id, added=docs)
            if self.suggester is not None:
                # Learnt here, with the batch, not from its event: a job's batches come one
                # after another, while events of big batches, handled beside everyone else's,
                # kept conflicting on the embedded server.
                await self.suggester.learn(
                    uow, user_id, [(doc["description"], doc["category"], 1) for doc in docs]
                )
            uow.emit(
                ExpensesImported(expenses=[ExpenseSnapshot(**snapshot(doc)) for doc in docs]),
                user_id=user_id,
            )
        return len(docs)


@dataclass
class ImportOutcome:
    imported: int = 0
    skipped: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    created_categories: list[str] = field(default_factory=list)


@dataclass
class _ImportPreparation:
    """What preparing one batch of an import leaves for the next."""

    user: Principal
    currency: str
    categories: set[str]  # the user's, and those the file named so far
    hard_limit_applies: Callable[[str, str], bool]
    outcome: ImportOutcome = field(default_factory=ImportOutcome)
    named: list[str] = field(default_factory=list)  # named by the file, not created yet
    seen: dict[bytes, int] = field(default_factory=dict)  # rows of equal content so far

    def written(self) -> bool:
        """Whether a batch has been written (each adds its rows, imported or skipped)."""
        return self.outcome.imported + self.outcome.skipped > 0


Progress = Callable[[ImportOutcome, int], Awaitable[None]]


class ImportInterruptedError(Exception):
    """A batch could not be written: the batches before it are imported, nothing after."""

    def __init__(self, outcome: ImportOutcome, line: int, cause: str) -> None:
        super().__init__(
            f"the import stopped at line {line}: {outcome.imported} rows before it were "
            f"imported, none from it on ({cause}). Import the same file again to add the rest: "
            "rows already imported are skipped."
        )
        self.outcome = outcome


class CurrencyChangedError(Exception):
    """The user's currency changed between reading it and writing their first expense."""


async def mark_has_data(uow: UnitOfWork, user_id: str, currency: str) -> None:
    """Records, with a user's first expense, that their account now has data in ``currency``:
    from then on the currency may not change (``/internal/currency``). Both write the profile,
    so a first expense and a currency change conflict and one of them retries: no expense is
    ever recorded in a currency the account has already left."""
    result = await uow.db.users.update_one(
        {"_id": user_id, "currency": currency},
        {"$set": {"has_data": True}},
        session=uow.session,
    )
    if result.matched_count != 1:
        raise CurrencyChangedError


async def apply_change(
    uow: UnitOfWork, current: Document, fields: dict[str, Any], *, count: bool = True
) -> Document:
    """Updates one expense inside ``uow`` and emits expense.updated with the previous values;
    the tally (expense_service.counts) follows unless ``count`` is False (the caller counts a
    batch of changes at once)."""
    changed = {k: v for k, v in fields.items() if current.get(k) != v}
    if not changed:
        return current
    updated = {**current, **changed, "updated_at": utcnow(), "version": current["version"] + 1}
    if "category" in changed:
        updated.pop("category_suggested", None)  # the user chose it
    result = await uow.db.expenses.replace_one(
        {"_id": current["_id"], "version": current["version"]}, updated, session=uow.session
    )
    if result.matched_count != 1:
        raise not_found(current["_id"])
    if count:
        counts.change(uow, current["user_id"], removed=[current], added=[updated])
    uow.emit(
        ExpenseUpdated(**snapshot(updated), previous=snapshot(current)),
        user_id=current["user_id"],
    )
    return updated


def fields_for_patch(current: Expense, patch: dict[str, Any]) -> dict[str, Any]:
    """The full client-side view of an expense after a PATCH, ready to validate again."""
    merged = {k: v for k, v in client_fields(current).items() if k != "version"}
    if ("amount" in patch or "currency" in patch) and "base_amount" not in patch:
        # The old conversion no longer applies: recomputed, or asked for.
        merged["base_amount"] = None
    merged.update(patch)
    return merged
