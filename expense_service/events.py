"""Events expense_service consumes: user.* for the local profiles (shared.users), budget.* to
know which expenses fall under a hard limit (shared.budgets, expense_service.limits), and its own
expense.created/updated/deleted so that category suggestions learn from every filing and
correction (suggest). An import's rows are learnt with their batch (ledger); a recurring
catch-up's repeats of one description teach nothing new and are not learnt."""

from __future__ import annotations

from expense_service import counts
from expense_service.storage import UP_TO_DATE, purge_user
from expense_service.suggest import Counts, Labelled, Suggester
from shared.budgets import BUDGET_COPY_HANDLERS
from shared.consumer import EventContext, Subscriptions, on
from shared.events import (
    ExpenseCreated,
    ExpenseDeleted,
    ExpenseUpdated,
    UserRegistered,
)
from shared.uow import UnitOfWork
from shared.users import user_directory_handlers


def handlers(prior: Counts) -> Subscriptions:
    def suggester(uow: UnitOfWork) -> Suggester:
        return Suggester(uow.db, prior)

    async def created(expense: ExpenseCreated, event: EventContext, uow: UnitOfWork) -> None:
        await learn(uow, event, [(expense.description, expense.category, 1)])

    async def updated(change: ExpenseUpdated, event: EventContext, uow: UnitOfWork) -> None:
        before = change.previous
        if (before.description, before.category) != (change.description, change.category):
            # A correction: the old filing is forgotten and the new one learnt.
            await learn(
                uow,
                event,
                [
                    (before.description, before.category, -1),
                    (change.description, change.category, 1),
                ],
            )

    async def deleted(expense: ExpenseDeleted, event: EventContext, uow: UnitOfWork) -> None:
        await learn(uow, event, [(expense.description, expense.category, -1)])

    async def learn(uow: UnitOfWork, event: EventContext, labelled: list[Labelled]) -> None:
        # Outside the transaction: nothing else is written with it, and a repeat is allowed
        # for (below), so one round trip, not two.
        if event.user_id is not None:
            await suggester(uow).learn(uow, event.user_id, labelled, atomic=False)

    async def up_to_date(user: UserRegistered, event: EventContext, uow: UnitOfWork) -> None:
        """A new account learns everything from events, and its tally counts every entry
        from the first: neither storage.backfill_accounts nor counts.backfill need visit it
        (the profile is written by the directory's subscription just before)."""
        result = await uow.db.users.update_one(
            {"_id": user.user_id, "deleted": {"$ne": True}},
            {"$set": {UP_TO_DATE: True}},
            session=uow.session,
        )
        if result.matched_count:
            await counts.mark_counted(uow, user.user_id)

    return [
        *user_directory_handlers(purge_user),
        on(UserRegistered, up_to_date),
        *BUDGET_COPY_HANDLERS,
        # Replay-safe by choice: a model of habits, not money. A redelivery (after a crash or
        # an error between the write and the acknowledgement) may count one filing twice, and
        # one after the first of its two writes leaves the vocabulary a word or two short (the
        # repeat finds the words known): a negligible skew. In exchange no processed-event
        # record is written (on the embedded server, concurrent inserts into that one
        # collection conflict, and a big import's learning kept losing to every other user's
        # events) and no transaction is needed.
        on(ExpenseCreated, created, replay_safe=True),
        on(ExpenseUpdated, updated, replay_safe=True),
        on(ExpenseDeleted, deleted, replay_safe=True),
    ]
