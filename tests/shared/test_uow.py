"""The unit of work's queued writes, against a real Mongo-wire server: one round trip with the
outbox entries, errors as the single write would have raised them, and nothing half-written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from shared.events import UserDeleted
from shared.mongo import Document, Mongo, UnsupportedServerError, require_client_bulk_write
from shared.outbox import create_outbox_indexes
from shared.uow import Transactions, UnitOfWork
from tests.support import Commands, secantusdb, watched_mongo


@pytest.fixture
async def watched(mongo_url: str) -> AsyncIterator[tuple[Mongo, Commands]]:
    mongo, commands = await watched_mongo(mongo_url)
    await create_outbox_indexes(mongo.db)
    yield mongo, commands
    await mongo.client.drop_database(mongo.db.name)
    await mongo.close()


class KeyTakenError(Exception):
    pass


async def test_queued_writes_and_outbox_entries_go_in_one_round_trip(
    watched: tuple[Mongo, Commands],
) -> None:
    mongo, commands = watched
    db = mongo.db
    await db.things.insert_many([{"_id": "old", "n": 1}, {"_id": "gone"}])
    transactions = Transactions(mongo, producer="tests")

    async def work(uow: UnitOfWork) -> None:
        await uow.db.log.insert_one({"_id": "sent at once"}, session=uow.session)
        uow.queue_insert(uow.db.things, {"_id": "new", "n": 1})
        uow.queue_update(uow.db.things, {"_id": "old"}, {"$inc": {"n": 1}})
        uow.queue_update(uow.db.tally, {"_id": "u"}, {"$inc": {"n": 5}}, upsert=True)
        uow.queue_replace(uow.db.things, {"_id": "new"}, {"n": 7})
        uow.queue_delete(uow.db.things, {"_id": "gone"})
        uow.emit(UserDeleted(user_id="u"), user_id="u")

    commands.names.clear()
    await transactions.run(work)
    assert commands.names == ["insert", "bulkWrite", "commitTransaction"]
    things = {doc["_id"]: doc.get("n") async for doc in db.things.find()}
    assert things == {"old": 2, "new": 7}  # in order: inserted, then replaced
    assert await db.tally.find_one() == {"_id": "u", "n": 5}
    outbox = [doc async for doc in db.outbox.find()]
    assert [entry["envelope"]["type"] for entry in outbox] == ["user.deleted"]
    assert await db.log.count_documents({}) == 1


@pytest.mark.parametrize("own_error", [True, False])
async def test_a_queued_duplicate_raises_as_the_insert_would_and_leaves_nothing(
    watched: tuple[Mongo, Commands], own_error: bool
) -> None:
    mongo, _ = watched
    db = mongo.db
    await db.keys.insert_one({"_id": "taken"})
    transactions = Transactions(mongo, producer="tests")

    async def work(uow: UnitOfWork) -> None:
        await uow.db.log.insert_one({"_id": "written first"}, session=uow.session)
        uow.queue_update(uow.db.tally, {"_id": "u"}, {"$inc": {"n": 1}}, upsert=True)
        uow.queue_insert(
            uow.db.keys, {"_id": "taken"}, on_duplicate=KeyTakenError if own_error else None
        )
        uow.queue_insert(uow.db.keys, {"_id": "after it"})
        uow.emit(UserDeleted(user_id="u"), user_id="u")

    with pytest.raises(KeyTakenError if own_error else DuplicateKeyError):
        await transactions.run(work)
    for name in ("log", "tally", "outbox"):
        assert await db[name].count_documents({}) == 0, name
    assert [doc["_id"] async for doc in db.keys.find()] == ["taken"]


async def test_a_queued_write_that_conflicts_is_retried_with_its_unit_of_work(
    watched: tuple[Mongo, Commands],
) -> None:
    """A write conflict on a queued write carries TransientTransactionError as the write alone
    would (on the command's error, inside the bulk write's), so the work runs again."""
    mongo, _ = watched
    db = mongo.db
    await db.tally.insert_one({"_id": "u", "n": 0})
    transactions = Transactions(mongo, producer="tests")
    read: list[Document | None] = []
    written_meanwhile = asyncio.Event()

    async def work(uow: UnitOfWork) -> None:
        read.append(await uow.db.tally.find_one({"_id": "u"}, session=uow.session))
        uow.queue_update(uow.db.tally, {"_id": "u"}, {"$inc": {"n": 1}})
        if len(read) == 1:
            # Another writer changes the document after this transaction's snapshot began.
            await db.tally.update_one({"_id": "u"}, {"$inc": {"n": 10}})
            written_meanwhile.set()

    await transactions.run(work)
    assert written_meanwhile.is_set()
    assert read == [{"_id": "u", "n": 0}, {"_id": "u", "n": 10}]  # the second attempt saw it
    assert await db.tally.find_one({"_id": "u"}) == {"_id": "u", "n": 11}


def test_a_server_older_than_mongodb_8_is_refused_with_why() -> None:
    require_client_bulk_write({"maxWireVersion": 25})  # 8.0
    require_client_bulk_write({"maxWireVersion": 27})
    with pytest.raises(UnsupportedServerError, match=r"MongoDB 8\.0 or newer.*wire version is 21"):
        require_client_bulk_write({"maxWireVersion": 21})  # 7.0
    with pytest.raises(UnsupportedServerError):
        require_client_bulk_write({})


@pytest.mark.integration
async def test_no_server_to_select_is_not_retried_as_a_conflict(tmp_path: Path) -> None:
    """A transaction's ServerSelectionTimeoutError carries TransientTransactionError, like a
    write conflict; retried as one, a request waited twenty times the driver's 5 s."""
    with secantusdb(tmp_path) as url:
        mongo = Mongo(url, "gone")
        transactions = Transactions(mongo, producer="tests")
        runs = 0

        async def read(uow: UnitOfWork) -> object:
            nonlocal runs
            runs += 1
            return await uow.db.things.find_one({}, session=uow.session)

        assert await transactions.run(read) is None
    try:
        with pytest.raises(ServerSelectionTimeoutError) as raised:
            await transactions.run(read)
    finally:
        await mongo.close()
    assert raised.value.has_error_label("TransientTransactionError")  # why it was retried
    # Once with the server up; without it, once finding no server, after (usually) once on
    # the pooled connection it had dropped, which is tried once more (the next test): not
    # twenty times.
    assert runs in (2, 3)


async def test_a_dropped_connection_is_tried_once_more_then_raised(fresh_mongo: Mongo) -> None:
    transactions = Transactions(fresh_mongo, producer="tests")
    dropped = {"errorLabels": ["TransientTransactionError"]}  # as the driver labels it
    runs = 0

    async def dropped_once(uow: UnitOfWork) -> str:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise AutoReconnect("connection closed", dropped)
        return "written"

    assert await transactions.run(dropped_once) == "written"
    assert runs == 2

    runs = 0

    async def always_dropped(uow: UnitOfWork) -> None:
        nonlocal runs
        runs += 1
        raise AutoReconnect("connection closed", dropped)

    with pytest.raises(AutoReconnect):
        await transactions.run(always_dropped)
    assert runs == 2  # not the twenty a write conflict gets

    runs = 0

    async def conflict_then_dropped(uow: UnitOfWork) -> str:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise OperationFailure("write conflict", 112, dropped)
        if runs == 2:
            raise AutoReconnect("connection closed", dropped)
        return "written"

    # A conflict's retry is not the dropped connection's one more try.
    assert await transactions.run(conflict_then_dropped) == "written"
    assert runs == 3
