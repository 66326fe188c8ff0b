"""Expense events in any order, delivered twice, leave the same budget state (real Mongo)."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from budget_service.events import HANDLERS
from budget_service.storage import create_indexes, read_month, spent_in
from shared.consumer import IdempotentConsumer, create_consumer_indexes
from shared.events import (
    EventEnvelope,
    ExpenseCreated,
    ExpenseDeleted,
    ExpenseSnapshot,
    ExpenseUpdated,
)
from shared.mongo import Mongo
from shared.outbox import create_outbox_indexes
from shared.uow import Transactions

USER = "user-1"
MONTHS = ["2026-10", "2026-11"]
CATEGORIES = ["food", "travel"]


@pytest.fixture
async def budget_dbs(mongo_url: str) -> AsyncIterator[list[tuple[Mongo, IdempotentConsumer]]]:
    """Two fresh budget_service databases, each with its consumer (the bus is never used:
    events are handed to the consumer directly)."""
    made = []
    for _ in range(2):
        mongo = Mongo(mongo_url, f"test_budget_{uuid.uuid4().hex[:8]}")
        for setup in (create_indexes, create_outbox_indexes, create_consumer_indexes):
            await setup(mongo.db)
        await mongo.db.users.insert_one(
            {
                "_id": USER,
                "email": "u@example.com",
                "currency": "EUR",
                "timezone": "UTC",
                "as_of": None,
            }
        )
        for month in MONTHS:
            for category, amount in ((None, 30000), ("food", 10000)):
                await mongo.db.budgets.insert_one(
                    {
                        "_id": f"{month}-{category}",
                        "user_id": USER,
                        "month": month,
                        "category": category,
                        "amount_cents": amount,
                        "thresholds_bp": [8000, 10000],
                        "repeat": False,
                        "hard_limit": False,
                        "version": 1,
                    }
                )
        made.append(
            (mongo, IdempotentConsumer(Transactions(mongo, producer="budget_service"), HANDLERS))
        )
    yield made
    for mongo, _ in made:
        await mongo.client.drop_database(mongo.db.name)
        await mongo.close()


def random_history(rng: random.Random, expenses: int) -> list[EventEnvelope]:
    """Creates, updates (amount, month, category moves) and deletes, in causal order."""
    events: list[EventEnvelope] = []
    for n in range(expenses):
        expense_id = f"e{n}"
        state: dict[str, Any] = {
            "expense_id": expense_id,
            "version": 1,
            "kind": rng.choice(["expense"] * 4 + ["income"]),
            "amount": Decimal(rng.randint(100, 9000)) / 100,
            "currency": "EUR",
            "category": rng.choice(CATEGORIES),
            "date": date(2026, rng.choice([10, 11]), 5),
            "tags": [],
            "description": "",
        }
        state["base_amount"] = state["amount"]
        events.append(envelope(ExpenseCreated(**state)))
        for _ in range(rng.randint(0, 3)):
            previous = ExpenseSnapshot(**state)
            state |= {
                "version": state["version"] + 1,
                "amount": Decimal(rng.randint(100, 9000)) / 100,
                "category": rng.choice(CATEGORIES),
                "date": date(2026, rng.choice([10, 11]), 20),
            }
            state["base_amount"] = state["amount"]
            events.append(envelope(ExpenseUpdated(**state, previous=previous)))
        if rng.random() < 0.3:
            state["version"] += 1
            events.append(envelope(ExpenseDeleted(**state)))
    return events


def envelope(payload: ExpenseCreated | ExpenseUpdated | ExpenseDeleted) -> EventEnvelope:
    return EventEnvelope.of(payload, producer="expense_service", user_id=USER)


async def state_of(mongo: Mongo) -> dict[str, Any]:
    projection = sorted(
        [
            doc
            async for doc in mongo.db.expense_projection.find(
                {},
                {
                    "_id": 1,
                    "version": 1,
                    "base_amount_cents": 1,
                    "month": 1,
                    "category": 1,
                    "deleted": 1,
                    "kind": 1,
                },
            )
        ],
        key=lambda d: d["_id"],
    )
    months = {m: await read_month(mongo.db, USER, m) for m in MONTHS}
    spent = {(m, c): spent_in(months[m], c) for m in MONTHS for c in [None, *CATEGORIES]}
    alerts = sorted(
        f"{budget}:{m}:{bp}"
        for m, doc in months.items()
        for budget, thresholds in (doc or {}).get("alerts", {}).items()
        for bp in thresholds
    )
    return {"projection": projection, "spent": spent, "alerts": alerts}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_duplicated_and_shuffled_delivery_gives_the_same_state(
    budget_dbs: list[tuple[Mongo, IdempotentConsumer]],
    seed: int,
) -> None:
    rng = random.Random(seed)
    history = random_history(rng, expenses=25)
    (in_order_db, in_order), (shuffled_db, shuffled) = budget_dbs

    for event in history:
        assert await in_order.handle(event)
    deliveries = history + history  # every event twice
    rng.shuffle(deliveries)
    for event in deliveries:
        await shuffled.handle(event)
    # Expense events are replay-safe: the projection's versions absorb every repeat, so the
    # consumer keeps no processed-event record for them.
    assert await shuffled_db.db.processed_events.count_documents({}) == 0

    expected = await state_of(in_order_db)
    assert await state_of(shuffled_db) == expected
    # The running totals equal the sum over the projection they are kept from.
    for (month, category), cents in expected["spent"].items():
        assert cents == sum(
            doc["base_amount_cents"]
            for doc in expected["projection"]
            if doc["kind"] == "expense"
            and not doc["deleted"]
            and doc["month"] == month
            and category in (None, doc["category"])
        ), (month, category)
    # Not a vacuous comparison: there is spending, and some thresholds stand crossed.
    assert any(expected["spent"].values())
    assert expected["projection"]
    assert expected["alerts"]
