from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from shared.bus import RabbitEventBus
from shared.consumer import create_consumer_indexes
from shared.mongo import Mongo
from shared.outbox import OutboxRelay, create_outbox_indexes
from shared.uow import Transactions
from tests.support import BrokerNames, delete_broker_names


@dataclass
class Parts:
    """The shared library's parts wired as a service wires them, on a fresh database."""

    mongo: Mongo
    bus: RabbitEventBus
    transactions: Transactions
    relay: OutboxRelay
    names: BrokerNames
    amqp_url: str


@pytest.fixture
async def parts(mongo_url: str, amqp_url: str, broker_names: BrokerNames) -> AsyncIterator[Parts]:
    mongo = Mongo(mongo_url, f"test_{uuid.uuid4().hex[:8]}")
    await create_outbox_indexes(mongo.db)
    await create_consumer_indexes(mongo.db)
    bus = RabbitEventBus(
        amqp_url, broker_names.exchange, client_name="tests", prefetch=10, delivery_limit=3
    )
    await bus.connect()
    relay = OutboxRelay(mongo, bus)
    transactions = Transactions(mongo, producer="tests", on_commit=relay.committed)
    yield Parts(mongo, bus, transactions, relay, broker_names, amqp_url)
    await bus.close()
    await mongo.client.drop_database(mongo.db.name)
    await mongo.close()
    queue = f"{broker_names.queue_prefix}consumer.events"
    await delete_broker_names(amqp_url, broker_names, [queue, f"{queue}.dlq"])
