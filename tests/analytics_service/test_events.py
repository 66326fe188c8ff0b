"""analytics_service's consumer, event by event, on a real Mongo-wire server: what a
budget.threshold_reached leaves, and what its delivery costs the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from analytics_service.events import HANDLERS
from analytics_service.storage import create_indexes
from shared.consumer import IdempotentConsumer, create_consumer_indexes
from shared.events import BudgetThresholdReached, EventEnvelope
from shared.mongo import Mongo
from shared.uow import Transactions
from tests.support import Commands, watched_mongo


@pytest.fixture
async def watched(mongo_url: str) -> AsyncIterator[tuple[Mongo, Commands]]:
    """analytics_service's Mongo, every command it sends recorded from the first event on."""
    mongo, commands = await watched_mongo(mongo_url)
    await create_indexes(mongo.db)
    await create_consumer_indexes(mongo.db)
    commands.names.clear()
    yield mongo, commands
    await mongo.client.drop_database(mongo.db.name)
    await mongo.close()


def alert_event(user_id: str) -> EventEnvelope:
    alert = BudgetThresholdReached(
        budget_id="b1",
        month="2026-06",
        category="food",
        threshold=Decimal("0.8"),
        spent=Decimal("80.00"),
        limit=Decimal("100.00"),
        percent=Decimal("80"),
        currency="EUR",
    )
    return EventEnvelope.of(alert, producer="budget_service", user_id=user_id)


async def test_an_alert_is_kept_once_in_one_write_however_often_it_comes(
    watched: tuple[Mongo, Commands],
) -> None:
    mongo, commands = watched
    consumer = IdempotentConsumer(Transactions(mongo, producer="t"), HANDLERS)
    event = alert_event("u1")

    await consumer.handle(event)
    assert commands.names == ["update"]  # no processed-event record, no transaction to commit

    await consumer.handle(event)  # a redelivery
    kept = await mongo.db.alerts.find({}).to_list()
    assert len(kept) == 1
    alert = kept[0]
    assert (alert["_id"], alert["user_id"]) == (event.id, "u1")
    assert (alert["budget_id"], alert["month"], alert["threshold"]) == ("b1", "2026-06", "0.8")
    assert await mongo.db.processed_events.count_documents({}) == 0
