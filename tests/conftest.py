"""Session-wide infrastructure: a Mongo-wire server and a RabbitMQ broker, both real.

With a Docker engine they come from testcontainers (MongoDB as a replica set, RabbitMQ);
without one, from a SecantusDB process and the local RabbitMQ. ``TEST_INFRA=local`` forces the
latter.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from pymongo import AsyncMongoClient

from shared.mongo import Mongo
from tests.support import (
    BrokerNames,
    docker_available,
    local_rabbitmq,
    mongo_container,
    rabbitmq_container,
    secantusdb,
)

USE_DOCKER = docker_available()
# A test that needs any of these is an integration (or end-to-end) test: `make test-unit` skips it.
INFRASTRUCTURE = frozenset({"mongo_url", "amqp_url", "e2e"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INFRASTRUCTURE & set(getattr(item, "fixturenames", ())) or "devstack" in item.nodeid:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    source = mongo_container() if USE_DOCKER else secantusdb(tmp_path_factory.mktemp("mongo"))
    with source as url:
        yield url


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    source = rabbitmq_container() if USE_DOCKER else contextlib.nullcontext(local_rabbitmq())
    with source as url:
        yield url


@pytest.fixture
def broker_names() -> BrokerNames:
    return BrokerNames.fresh()


@pytest.fixture
async def mongo_client(mongo_url: str) -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
async def fresh_mongo(mongo_url: str) -> AsyncIterator[Mongo]:
    """A service's Mongo on a database of its own, dropped afterwards."""
    mongo = Mongo(mongo_url, f"test_{uuid.uuid4().hex[:8]}")
    yield mongo
    await mongo.client.drop_database(mongo.db.name)
    await mongo.close()
