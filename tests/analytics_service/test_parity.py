"""Parity: analytics built from a shuffled, duplicated event stream equals the figures computed
from the expense ledger itself, to the cent; and a rebuild from the ledger answers the same
(real Mongo-wire server)."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from analytics_service.events import HANDLERS
from analytics_service.rebuild import rebuild
from analytics_service.reports import Reports
from analytics_service.storage import create_indexes
from shared.consumer import IdempotentConsumer, create_consumer_indexes
from shared.events import (
    EventEnvelope,
    ExpenseCreated,
    ExpenseDeleted,
    ExpenseSnapshot,
    ExpenseUpdated,
)
from shared.money import to_cents
from shared.mongo import Mongo
from shared.outbox import create_outbox_indexes
from shared.uow import Transactions

USERS = ["u1", "u2", "u3"]
MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
CATEGORIES = ["food", "travel", "bills", "shopping"]


@pytest.fixture
async def mongos(mongo_url: str) -> AsyncIterator[dict[str, Mongo]]:
    made = {
        name: Mongo(mongo_url, f"test_{name}_{uuid.uuid4().hex[:8]}")
        for name in ("incremental", "rebuilt", "expenses", "budgets")
    }
    for name in ("incremental", "rebuilt"):
        for setup in (create_indexes, create_outbox_indexes, create_consumer_indexes):
            await setup(made[name].db)
    profiles = [
        {
            "_id": u,
            "email": f"{u}@example.com",
            "currency": "EUR",
            "timezone": "UTC",
            "name": None,
            "as_of": None,
        }
        for u in USERS
    ]
    await made["incremental"].db.users.insert_many(profiles)
    await made["expenses"].db.users.insert_many(profiles)
    yield made
    for mongo in made.values():
        await mongo.client.drop_database(mongo.db.name)
        await mongo.close()


def random_stream(
    rng: random.Random, events: int
) -> tuple[list[EventEnvelope], dict[str, ExpenseSnapshot | None]]:
    """Events in causal order, and each expense's final state (None: deleted)."""
    stream: list[EventEnvelope] = []
    final: dict[str, ExpenseSnapshot | None] = {}
    live: dict[str, tuple[str, dict[str, Any]]] = {}
    while len(stream) < events:
        if not live or rng.random() < 0.45:
            user, expense_id = rng.choice(USERS), f"e{len(final)}"
            state = {
                "expense_id": expense_id,
                "version": 1,
                "currency": "EUR",
                "tags": [],
                "description": "",
                **_random_fields(rng),
            }
            live[expense_id] = (user, state)
            stream.append(_envelope(user, ExpenseCreated(**state)))
        else:
            expense_id = rng.choice(sorted(live))
            user, state = live[expense_id]
            previous = ExpenseSnapshot(**state)
            state |= {"version": state["version"] + 1}
            if rng.random() < 0.25:
                stream.append(_envelope(user, ExpenseDeleted(**state)))
                del live[expense_id]
                final[expense_id] = None
                continue
            state |= _random_fields(rng)
            stream.append(_envelope(user, ExpenseUpdated(**state, previous=previous)))
        final[expense_id] = ExpenseSnapshot(**state)
    return stream, final


def _random_fields(rng: random.Random) -> dict[str, Any]:
    amount = Decimal(rng.randint(1, 50000)) / 100
    month = rng.choice(MONTHS)
    return {
        "kind": "income" if rng.random() < 0.15 else "expense",
        "amount": amount,
        "base_amount": amount,
        "category": rng.choice(CATEGORIES),
        "date": date.fromisoformat(f"{month}-{rng.randint(1, 28):02d}"),
    }


def _envelope(
    user: str, payload: ExpenseCreated | ExpenseUpdated | ExpenseDeleted
) -> EventEnvelope:
    return EventEnvelope.of(payload, producer="expense_service", user_id=user)


def expected_figures(
    final: dict[str, ExpenseSnapshot | None], owners: dict[str, str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per user and month, from the ledger's final state: what every report must agree with."""
    figures: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {
            "income": 0,
            "expense": 0,
            "count": 0,
            "income_count": 0,
            "categories": defaultdict(lambda: [0, 0]),
        }
    )
    for expense_id, expense in final.items():
        if expense is None:
            continue
        cell = figures[(owners[expense_id], expense.date.isoformat()[:7])]
        cents = to_cents(expense.base_amount)
        cell[expense.kind] += cents
        cell["count" if expense.kind == "expense" else "income_count"] += 1
        if expense.kind == "expense":
            cell["categories"][expense.category][0] += cents
            cell["categories"][expense.category][1] += 1
    return figures


async def every_answer(mongo: Mongo) -> list[Any]:
    answers: list[Any] = []
    for user in USERS:
        reports = Reports(mongo.db, user)
        for month in MONTHS:
            answers += [
                await reports.month_summary(month),
                await reports.insights(month),
                await reports.forecast(month),
            ]
        answers.append(await reports.trends("2026-06", 6))
        answers.append(await reports.summary(date(2026, 1, 15), date(2026, 5, 10)))
    return [answer.model_dump() for answer in answers]


async def test_shuffled_duplicated_stream_matches_the_ledger_and_the_rebuild(
    mongos: dict[str, Mongo],
) -> None:
    rng = random.Random(20261121)
    stream, final = random_stream(rng, 500)
    owners = {e.data["expense_id"]: e.user_id or "" for e in stream}
    consumer = IdempotentConsumer(Transactions(mongos["incremental"], producer="t"), HANDLERS)
    deliveries = stream + rng.sample(stream, 150)  # 150 events twice
    rng.shuffle(deliveries)
    for event in deliveries:
        await consumer.handle(event)

    figures = expected_figures(final, owners)
    assert len(figures) > 10
    for user in USERS:
        reports = Reports(mongos["incremental"].db, user)
        for month in MONTHS:
            expected = figures[(user, month)]
            summary = await reports.month_summary(month)
            assert (
                to_cents(summary.income),
                to_cents(summary.expense),
                summary.count,
                summary.income_count,
            ) == (
                expected["income"],
                expected["expense"],
                expected["count"],
                expected["income_count"],
            ), (user, month)
            assert {c.category: (to_cents(c.total), c.count) for c in summary.categories} == {
                k: tuple(v) for k, v in expected["categories"].items() if v[1]
            }, (user, month)
        trend = await reports.trends("2026-06", 6)
        assert [to_cents(m.expense) for m in trend.months] == [
            figures[(user, m)]["expense"] for m in MONTHS
        ]

    # The ledger as expense_service stores it, then a rebuild from it: the same answers.
    docs = [
        {
            "_id": e.expense_id,
            "user_id": owners[e.expense_id],
            "version": e.version,
            "kind": e.kind,
            "amount_cents": to_cents(e.amount),
            "currency": e.currency,
            "base_amount_cents": to_cents(e.base_amount),
            "category": e.category,
            "date": e.date.isoformat(),
            "month": e.date.isoformat()[:7],
            "tags": e.tags,
            "description": e.description,
        }
        for e in final.values()
        if e is not None
    ]
    await mongos["expenses"].db.expenses.insert_many(docs)
    await rebuild(mongos["rebuilt"].db, mongos["expenses"].db, mongos["budgets"].db)
    assert await every_answer(mongos["rebuilt"]) == await every_answer(mongos["incremental"])
