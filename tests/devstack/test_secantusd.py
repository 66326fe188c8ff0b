"""The fixes SecantusDB is started with (devstack/secantusd.py). Every integration test runs
against a server started this way; these check the fixes' own logic."""

from __future__ import annotations

import contextlib
import importlib.metadata
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import wiredtiger
from pymongo import InsertOne, MongoClient, UpdateOne
from pymongo.errors import DuplicateKeyError, OperationFailure
from pymongo.read_concern import ReadConcern
from secantus import commands, server, sessions, storage, transactions

from devstack import secantusd
from devstack.stack import Stack, wait_for
from tests.support import free_port

PATCHED_CLASSES = (storage.Storage, transactions.TransactionRegistry, sessions.SessionRegistry)


@pytest.fixture
def restored() -> Iterator[None]:
    """Whatever a test patches into SecantusDB is undone after it: the server's dispatch, the
    fields bulkWrite takes, and every method of the store and of the transaction and session
    registries, as they were."""
    dispatch = server.dispatch
    bulk_write_fields = commands._BULK_WRITE_KNOWN_FIELDS
    methods = {cls: dict(vars(cls)) for cls in PATCHED_CLASSES}
    yield
    server.dispatch = dispatch
    commands._BULK_WRITE_KNOWN_FIELDS = bulk_write_fields
    for cls, before in methods.items():
        for name, method in before.items():
            if vars(cls)[name] is not method:
                setattr(cls, name, method)


@pytest.fixture
def patched(restored: None) -> None:
    secantusd.patch()


def test_the_reaper_passes_over_a_transaction_running_a_statement(patched: None) -> None:
    now = [0.0]
    registry = transactions.TransactionRegistry(lifetime_seconds=60, time_func=lambda: now[0])
    busy = transactions.Transaction(b"busy", None, 1, now=0)
    idle = transactions.Transaction(b"idle", None, 1, now=0)
    registry._txns.update({b"busy": busy, b"idle": idle})
    now[0] = 61  # both past their lifetime; one is in the middle of a (slow) statement

    statement_running, statement_may_end = threading.Event(), threading.Event()

    def slow_statement() -> None:
        with busy.mutex:
            statement_running.set()
            statement_may_end.wait(10)

    runner = threading.Thread(target=slow_statement)
    runner.start()
    statement_running.wait(10)
    try:
        reaped: list[int] = []
        reaper = threading.Thread(target=lambda: reaped.append(registry.prune_expired()))
        reaper.start()
        reaper.join(5)  # unpatched, it waits for the statement (here: until the test gives up)
        assert not reaper.is_alive(), "the reaper waited for a busy transaction"
        assert reaped == [1]
        assert idle.state is transactions.TxnState.ABORTED
        assert busy.state is transactions.TxnState.IN_PROGRESS
    finally:
        statement_may_end.set()
        runner.join()
    # Once the statement is over, the transaction is reaped like any other idle one.
    assert registry.prune_expired() == 1
    assert busy.state is transactions.TxnState.ABORTED


class Clock:
    """A registry's clock, set by the test; the times it gives count how often they are
    compared, which is how often a record was read."""

    def __init__(self) -> None:
        self.now = 0.0
        self.compared = 0

    def __call__(self) -> float:
        return Instant(self.now, self)


class Instant(float):
    clock: Clock

    def __new__(cls, value: float, clock: Clock) -> Instant:
        instant = super().__new__(cls, value)
        instant.clock = clock
        return instant

    def _compared(self, other: object, result: bool) -> bool:
        self.clock.compared += 1
        return result

    def __lt__(self, other: float) -> bool:
        return self._compared(other, float(self) < other)

    def __ge__(self, other: float) -> bool:
        return self._compared(other, float(self) >= other)

    def __le__(self, other: float) -> bool:
        return self._compared(other, float(self) <= other)

    def __gt__(self, other: float) -> bool:
        return self._compared(other, float(self) > other)


def test_retryable_writes_read_only_the_records_they_drop(
    patched: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each retryable write prunes the records kept for retries (twice). SecantusDB read all of
    them, up to 10,000, for each, and sorted them all once it held 10,000 (11,000 writes in a
    row against a stack: 4.6 ms each, 1.3 ms with the fix)."""
    monkeypatch.setattr(transactions, "_RETRYABLE_RECORD_MAX", 1000)
    clock = Clock()
    registry = transactions.TransactionRegistry(lifetime_seconds=60, time_func=clock)
    reply = {"ok": 1.0, "n": 1}
    for n in range(1000):
        clock.now = n
        registry.record_retryable(n.to_bytes(16), 1, b"write", reply)

    clock.compared = 0
    registry.record_retryable((1000).to_bytes(16), 1, b"write", reply)
    assert registry.retryable_reply((1000).to_bytes(16), 1, b"write") == reply
    assert clock.compared <= 4, f"{clock.compared} records read to keep 1,000"
    # The cap drops the oldest: the first record went to make room for the last.
    assert registry.retryable_reply((0).to_bytes(16), 1, b"write") is None
    assert registry.retryable_reply((1).to_bytes(16), 1, b"write") == reply

    # A record set again counts from then, not from when it was first set.
    clock.now = 1001
    registry.record_retryable((1).to_bytes(16), 1, b"write", reply)
    clock.now = transactions._RETRYABLE_RECORD_LIFETIME_SECONDS + 500.5  # records < 500.5 expire
    registry.record_retryable((2000).to_bytes(16), 1, b"write", reply)
    assert registry.retryable_reply((500).to_bytes(16), 1, b"write") is None
    assert registry.retryable_reply((501).to_bytes(16), 1, b"write") == reply
    assert registry.retryable_reply((1).to_bytes(16), 1, b"write") == reply
    assert len(registry._retryable) == 502  # 501 to 1,000, 1 (set again) and 2,000


def test_statements_sweep_idle_transactions_and_sessions_once_a_second(patched: None) -> None:
    """The transaction registry reaps idle transactions, and the session registry drops idle
    sessions, from every statement: each read all of them (about 150 transactions here after
    150 users had spent once) every time. Once a second is soon enough for a lifetime of a
    minute, and of half an hour."""
    now = [0.0]
    registry = transactions.TransactionRegistry(lifetime_seconds=60, time_func=lambda: now[0])
    registry._txns[b"a"] = first = transactions.Transaction(b"a", None, 1, now=0)
    now[0] = 61
    assert registry._prune_locked() == 1  # the first statement sweeps
    assert first.state is transactions.TxnState.ABORTED
    registry._txns[b"b"] = second = transactions.Transaction(b"b", None, 1, now=0)
    assert registry._prune_locked() == 0  # the next ones, within a second, do not
    assert second.state is transactions.TxnState.IN_PROGRESS
    now[0] += secantusd.SWEEP_SECONDS
    assert registry._prune_locked() == 1
    assert second.state is transactions.TxnState.ABORTED
    registry._txns[b"c"] = third = transactions.Transaction(b"c", None, 1, now=0)
    assert registry.prune_expired() == 1  # asked for, it sweeps at once
    assert third.state is transactions.TxnState.ABORTED

    # A short lifetime (the test stack's) is swept every tenth of it: reaped by 1.1 s, not 2.
    short = transactions.TransactionRegistry(lifetime_seconds=1, time_func=lambda: now[0])
    short._txns[b"d"] = fourth = transactions.Transaction(b"d", None, 1, now=0)
    now[0] = 0.95
    assert short._prune_locked() == 0  # a sweep: d is not yet past its lifetime
    now[0] = 1.1
    assert short._prune_locked() == 1
    assert fourth.state is transactions.TxnState.ABORTED

    clock = [0.0]
    kept = sessions.SessionRegistry(idle_ttl_seconds=60, time_func=lambda: clock[0])
    kept.register(b"s" * 16)  # a sweep; the next one not before 1.0
    clock[0] = 0.5
    kept.register(b"t" * 16)
    clock[0] = 60.2
    kept.register(b"u" * 16)  # a sweep: s has been idle 60.2 s, t 59.7 s
    assert not kept.is_known(b"s" * 16)
    assert kept.is_known(b"t" * 16)
    clock[0] = 60.2 + secantusd.SWEEP_SECONDS / 2
    kept.register(b"v" * 16)
    assert kept.is_known(b"t" * 16), "swept again within a second"
    assert kept.prune_idle() == 1  # asked for: at once
    assert not kept.is_known(b"t" * 16)
    clock[0] = 60.2 + 60 + secantusd.SWEEP_SECONDS
    kept.register(b"w" * 16)  # the interval has passed: a sweep
    assert not kept.is_known(b"u" * 16)


def test_cursors_are_released_and_kept_open() -> None:
    class Cursor:
        def __init__(self, fails: bool = False) -> None:
            self.resets, self.fails = 0, fails

        def reset(self) -> None:
            self.resets += 1
            if self.fails:
                raise RuntimeError("table dropped")

    cursors: dict[Any, Any] = {("a", True): Cursor(), ("b", False): Cursor(fails=True)}
    secantusd.release_cursors(cursors)
    assert [c.resets for c in cursors.values()] == [1, 1]
    assert len(cursors) == 2


def test_another_secantusdb_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.8.0")
    patched_before = transactions.TransactionRegistry._prune_locked
    assert secantusd.main() == 2
    assert transactions.TransactionRegistry._prune_locked is patched_before


@pytest.mark.parametrize(
    ("failure", "conflict"),
    [
        (storage.wt.WiredTigerError("Invalid argument"), True),
        (
            storage.wt.WiredTigerRollbackError(
                "WT_ROLLBACK: conflict between concurrent operations"
            ),
            True,
        ),
        (storage.wt.WiredTigerError("WT_PANIC: WiredTiger library panic"), False),
        (OSError("disk full"), False),
    ],
)
def test_a_commit_refused_for_a_conflict_is_a_write_conflict(
    restored: None, failure: Exception, conflict: bool
) -> None:
    def commit(self: Any, handle: Any, **options: Any) -> int:
        raise failure

    storage.Storage.commit_user_transaction = commit
    secantusd.patch()  # wraps the commit above
    expected = storage.WriteConflictError if conflict else type(failure)
    with pytest.raises(expected):
        storage.Storage.commit_user_transaction(object(), object())


@pytest.mark.parametrize(
    ("query", "looked_up"),
    [
        (
            {"_id": "x", "$and": [{"user_id": "u"}]},
            [{"_id": "x", "$and": [{"user_id": "u"}]}, {"_id": "x"}],
        ),
        (
            {"user_id": "u", "$or": [{"a": 1}, {"b": 2}]},
            [{"user_id": "u", "$or": [{"a": 1}, {"b": 2}]}, {"user_id": "u"}],
        ),
        ({"$or": [{"a": 1}, {"b": 2}]}, [{"$or": [{"a": 1}, {"b": 2}]}]),  # no plain field
        ({"a": 1, "$where": "1"}, [{"a": 1, "$where": "1"}]),  # not a logical operator: as before
        ({"a": 1}, [{"a": 1}]),
    ],
)
def test_logical_operators_beside_plain_fields_are_looked_up_by_the_plain_fields(
    restored: None, query: dict[str, Any], looked_up: list[dict[str, Any]]
) -> None:
    asked: list[dict[str, Any]] = []

    def lookup(
        self: Any, db: str, coll: str, filter: dict[str, Any], **options: Any
    ) -> list[bytes] | None:
        asked.append(filter)
        return None if any(key.startswith("$") for key in filter) else [b"rid"]

    storage.Storage._try_index_id_keys = lookup
    secantusd.patch()
    found = storage.Storage._try_index_id_keys(object(), "db", "coll", query)
    assert asked == looked_up
    assert found == (None if any(k.startswith("$") for k in looked_up[-1]) else [b"rid"])


EXPENSE_INDEXES = [
    {"user_id": 1, "date": 1, "_id": 1},
    {"user_id": 1, "category": 1, "date": 1},
    {"user_id": 1, "base_amount_cents": 1, "_id": 1},
]
MAY = {"$gte": "2026-05-01", "$lt": "2026-06-01"}
TEXT = {"$regex": "lunch", "$options": "i"}


@pytest.mark.parametrize(
    ("query", "looked_up"),
    [
        # A text search in a month: the month's entries, not the whole account's.
        ({"user_id": "u", "date": MAY, "description": TEXT}, {"user_id": "u", "date": MAY}),
        # The longest run of fields one index holds wins.
        (
            {"user_id": "u", "category": "food", "date": MAY, "description": TEXT},
            {"user_id": "u", "category": "food", "date": MAY},
        ),
        (
            {"user_id": "u", "category": "food", "base_amount_cents": {"$gte": 500}},
            {"user_id": "u", "category": "food"},
        ),
        # A bounded field ends what an index can look up: only the user is left, as before.
        ({"user_id": "u", "description": TEXT, "kind": "income"}, None),
        # An index holds every field: SecantusDB's own lookup, as before.
        ({"user_id": "u", "category": "food", "date": MAY}, None),
        # A value not looked up as it is (null matches a missing field) ends it too.
        ({"user_id": "u", "category": None, "kind": "income"}, None),
    ],
)
def test_fields_no_index_holds_leave_the_rest_to_the_index_that_holds_most(
    restored: None, query: dict[str, Any], looked_up: dict[str, Any] | None
) -> None:
    """SecantusDB looks up a filter with a field no index holds by one of its fields alone (the
    user: every entry of the account, then the rest applied to each); mongod looks it up by the
    fields an index holds, as this does. The caller applies the whole filter either way."""
    asked: list[dict[str, Any]] = []

    def lookup(
        self: Any, db: str, coll: str, filter: dict[str, Any], **options: Any
    ) -> list[bytes] | None:
        asked.append(filter)
        return [b"rid"]

    def indexes(self: Any, db: str, coll: str) -> list[tuple[str, dict[str, Any], bool, bool]]:
        return [(f"i{n}", spec, False, False) for n, spec in enumerate(EXPENSE_INDEXES)]

    storage.Storage._try_index_id_keys = lookup
    storage.Storage._all_indexes = indexes
    secantusd.patch()
    store = storage.Storage.__new__(storage.Storage)
    assert storage.Storage._try_index_id_keys(store, "db", "coll", query) == [b"rid"]
    assert asked == [looked_up or query]


def test_a_lookup_by_the_fields_an_index_holds_finds_what_a_scan_finds(
    served: tuple[MongoClient[Any], list[str]],
) -> None:
    client, _ = served
    expenses = client.db.expenses
    for spec in EXPENSE_INDEXES:
        expenses.create_index(list(spec.items()))
    expenses.insert_many(
        {
            "_id": f"e{n:03d}",
            "user_id": "uv"[n % 2],
            "date": f"2026-{4 + n % 3:02d}-{1 + n % 28:02d}",
            "category": ("food", "travel", "other")[n % 5 % 3],
            "base_amount_cents": n * 37 % 1000,
            "description": ("Lunch", "train", "LUNCH at work", None)[n % 4],
            **({"kind": "income"} if n % 7 == 0 else {}),
        }
        for n in range(300)
    )
    for query in (
        {"user_id": "u", "date": MAY, "description": TEXT},
        {"user_id": "u", "category": "food", "date": MAY, "description": TEXT},
        {"user_id": "v", "category": "other", "base_amount_cents": {"$gte": 500}},
        {"user_id": "u", "date": {"$in": ["2026-05-03", "2026-05-05"]}, "category": "food"},
        {"user_id": "u", "category": "food", "date": MAY, "kind": {"$exists": False}},
    ):
        found = sorted(doc["_id"] for doc in expenses.find(query))
        scanned = sorted(doc["_id"] for doc in expenses.find(query).hint({"$natural": 1}))
        assert found == scanned
        assert found, f"nothing matches {query}: the comparison says nothing"


@pytest.fixture
def catalogue_reads(restored: None, tmp_path: Path) -> Iterator[tuple[storage.Storage, list[str]]]:
    """A real (embedded) SecantusDB store with two indexes on ``db.expenses``, the fixes applied,
    and the collections whose index catalogue was read, one entry per read."""
    reads: list[str] = []
    read_catalogue = storage.Storage._index_options_map

    def counted(self: storage.Storage, db: str, coll: str) -> dict[str, dict[str, Any]]:
        reads.append(coll)
        result: dict[str, dict[str, Any]] = read_catalogue(self, db, coll)
        return result

    storage.Storage._index_options_map = counted
    secantusd.patch()  # wraps the counting read
    store = storage.Storage(str(tmp_path))
    store.create_index("db", "expenses", "by_category", {"user_id": 1, "category": 1})
    store.create_index("db", "expenses", "by_kind", {"user_id": 1, "kind": 1})
    try:
        yield store, reads
    finally:
        store.close()


def test_a_write_reads_the_index_catalogue_once_and_still_indexes_every_document(
    catalogue_reads: tuple[storage.Storage, list[str]],
) -> None:
    store, reads = catalogue_reads
    docs = [
        {"_id": n, "user_id": "u", "category": f"c{n % 3}", "kind": "expense"} for n in range(50)
    ]
    assert store.insert("db", "expenses", docs) == (50, [])
    assert reads == ["expenses"]  # unpatched: three reads a document, 150
    reads.clear()
    store.update_matching(
        "db", "expenses", {"user_id": "u"}, {"$set": {"kind": "income"}}, multi=True
    )
    assert reads == ["expenses"]
    reads.clear()
    assert store.delete_matching("db", "expenses", {"user_id": "u", "category": "c0"}) == 17
    assert reads == ["expenses"]
    found = store.find_matching("db", "expenses", {"user_id": "u", "category": "c1"})
    assert sorted(doc["_id"] for doc in found) == [n for n in range(50) if n % 3 == 1]
    assert len(store.find_matching("db", "expenses", {"user_id": "u", "kind": "income"})) == 33


def test_an_index_made_between_two_writes_applies_to_the_second(
    catalogue_reads: tuple[storage.Storage, list[str]],
) -> None:
    """What a statement read ends with it: a unique index created after one insert refuses a
    duplicate in the next."""
    store, reads = catalogue_reads
    assert store.insert("db", "expenses", [{"_id": 1, "user_id": "u", "code": "a"}]) == (1, [])
    store.create_index("db", "expenses", "code", {"code": 1}, {"unique": True})
    inserted, errors = store.insert("db", "expenses", [{"_id": 2, "user_id": "u", "code": "a"}])
    assert inserted == 0
    assert [error["code"] for error in errors] == [11000]
    assert reads.count("expenses") >= 2


@contextlib.contextmanager
def serving(
    storage_path: Path, ttl_sweep_seconds: float = 3600
) -> Iterator[tuple[server.SecantusDBServer, MongoClient[Any]]]:
    """A SecantusDB server in this process, on a free port, as patched so far, and a client."""
    db_server = server.SecantusDBServer(
        port=0, storage_path=str(storage_path), ttl_sweep_seconds=ttl_sweep_seconds
    )
    db_server.start()
    host, port = db_server.address
    client: MongoClient[Any] = MongoClient(host, port, directConnection=True)
    try:
        yield db_server, client
    finally:
        client.close()
        db_server.stop()


@pytest.fixture
def served(restored: None, tmp_path: Path) -> Iterator[tuple[MongoClient[Any], list[str]]]:
    """A SecantusDB server in this process, on a free port, the fixes applied, with a client, and
    the catalogue tables' reads and writes, one entry per access."""
    accesses: list[str] = []
    cursor = storage.Storage._cursor
    catalogue = {storage._COLL_TABLE, storage._IDX_TABLE}

    def counted(self: storage.Storage, table: str, **options: Any) -> Any:
        if table in catalogue:
            accesses.append(table)
        return cursor(self, table, **options)

    storage.Storage._cursor = counted
    secantusd.patch()
    try:
        with serving(tmp_path) as (_, client):
            yield client, accesses
    finally:
        storage.Storage._cursor = cursor


def test_the_catalogue_is_read_once_not_by_every_command(
    served: tuple[MongoClient[Any], list[str]],
) -> None:
    client, accesses = served
    expenses = client.db.expenses
    expenses.create_index([("user_id", 1), ("category", 1)])
    expenses.insert_one({"_id": 0, "user_id": "u", "category": "food"})
    accesses.clear()
    for n in range(1, 31):
        expenses.insert_one({"_id": n, "user_id": "u", "category": "food"})
        expenses.update_one({"_id": n}, {"$set": {"category": "rent"}})
        with client.start_session() as session, session.start_transaction():
            expenses.insert_one({"_id": -n, "user_id": "u", "category": "food"}, session=session)
    assert len(accesses) <= 3  # unpatched: 960, 32 a round
    assert expenses.count_documents({"user_id": "u", "category": "rent"}) == 30
    assert expenses.count_documents({"user_id": "u", "category": "food"}) == 31


def test_a_catalogue_change_is_seen_by_the_next_command(
    served: tuple[MongoClient[Any], list[str]],
) -> None:
    client, _ = served
    expenses = client.db.expenses
    expenses.insert_one({"_id": 1, "code": "a"})
    expenses.create_index("code", unique=True)
    with pytest.raises(DuplicateKeyError):
        expenses.insert_one({"_id": 2, "code": "a"})
    expenses.drop_index("code_1")
    assert sorted(expenses.index_information()) == ["_id_"]
    expenses.insert_one({"_id": 2, "code": "a"})
    expenses.create_index("code")
    expenses.drop()
    assert "expenses" not in client.db.list_collection_names()
    assert expenses.index_information() == {}
    assert expenses.options() == {}
    expenses.insert_one({"_id": 1, "code": "b"})  # made again, with no index but _id's
    assert sorted(expenses.index_information()) == ["_id_"]
    assert expenses.find_one({"code": "b"}) == {"_id": 1, "code": "b"}
    # A collection's options, and a database's profiling level (read by every command).
    client.db.create_collection("capped", capped=True, size=4096)
    assert client.db.capped.options() == {"capped": True, "size": 4096}
    assert client.db.command("profile", 2)["was"] == 0
    assert client.db.command("profile", -1)["was"] == 2


def test_a_transaction_may_begin_with_a_bulk_write(
    served: tuple[MongoClient[Any], list[str]],
) -> None:
    """Its first statement carries the transaction's readConcern, which SecantusDB's bulkWrite
    refused (IDLUnknownField): a unit of work whose writes are all queued begins so."""
    client, _ = served
    client.db.tally.insert_one({"_id": "u", "n": 1})
    with (
        client.start_session() as session,
        session.start_transaction(read_concern=ReadConcern("snapshot")),
    ):
        client.bulk_write(
            [
                InsertOne({"_id": 1}, namespace="db.expenses"),
                UpdateOne({"_id": "u"}, {"$inc": {"n": 1}}, namespace="db.tally"),
            ],
            session=session,
        )
    assert client.db.expenses.find_one() == {"_id": 1}
    assert client.db.tally.find_one() == {"_id": "u", "n": 2}


@pytest.mark.parametrize("commit", [True, False])
def test_a_collection_made_in_a_transaction_exists_only_if_it_commits(
    served: tuple[MongoClient[Any], list[str]], commit: bool
) -> None:
    client, _ = served
    client.db.other.insert_one({"_id": 1})  # the database exists
    with client.start_session() as session:
        session.start_transaction()
        client.db.made.insert_one({"_id": 1}, session=session)
        # Read meanwhile by another command: not there yet.
        assert "made" not in client.db.list_collection_names()
        assert client.db.made.find_one({"_id": 1}) is None
        assert client.db.made.index_information() == {}
        if commit:
            session.commit_transaction()
        else:
            session.abort_transaction()
    # First its options, which say it exists: read while it did not, they must not have been
    # kept (a later find would mend them, writing a new collection uuid).
    assert ("_id_" in client.db.made.index_information()) is commit
    assert ("made" in client.db.list_collection_names()) is commit
    assert (client.db.made.find_one({"_id": 1}) is not None) is commit
    client.db.made.insert_one({"_id": 2})
    assert client.db.made.count_documents({}) == (2 if commit else 1)


def test_an_index_made_after_a_transaction_began_is_not_used_by_it(
    served: tuple[MongoClient[Any], list[str]],
) -> None:
    """The transaction's snapshot has no entries of the new index; had it taken the index from
    the cache, it would have found nothing."""
    client, _ = served
    expenses = client.db.expenses
    expenses.insert_many([{"_id": n, "user_id": "u", "n": n} for n in range(5)])
    with client.start_session() as session, session.start_transaction():
        assert expenses.find_one({"_id": 0}, session=session) is not None  # its snapshot begins
        expenses.create_index("n")
        assert expenses.find_one({"n": 3}) == {"_id": 3, "user_id": "u", "n": 3}  # uses it
        assert expenses.find_one({"n": 3}, session=session) == {"_id": 3, "user_id": "u", "n": 3}


@dataclass
class CursorsSeen:
    """A thread's cached cursors, looked at between uses: how many, and which sat on a record."""

    looked_at: int = 0
    positioned: list[Any] = field(default_factory=list)

    def look(self, store: storage.Storage) -> None:
        for key, cursor in getattr(store._tls, "cursors", {}).items():
            self.looked_at += 1
            try:
                cursor.get_key()  # raises unless the cursor is on a record
            except wiredtiger.WiredTigerError:
                continue
            self.positioned.append(key)


def test_a_connection_waits_for_its_next_command_with_no_cursor_positioned(
    patched: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After every command the launcher resets the connection's cached cursors: one left on a
    page holds up an insert that must evict it, and the server's own reset of the connection's
    session before it waits leaves some (the profile-settings cursor) on their record."""
    db_server = server.SecantusDBServer(port=0, storage_path=str(tmp_path), ttl_sweep_seconds=3600)
    read_message = server.read_message
    seen = CursorsSeen()

    def after_the_last_command(conn: Any) -> Any:
        seen.look(db_server.storage)
        return read_message(conn)

    monkeypatch.setattr(server, "read_message", after_the_last_command)
    db_server.start()
    host, port = db_server.address
    client: MongoClient[Any] = MongoClient(host, port, directConnection=True)
    try:
        expenses = client.db.expenses
        expenses.create_index([("user_id", 1), ("date", 1)])
        for n in range(20):
            expenses.insert_one({"_id": n, "user_id": "u", "date": f"2026-01-{n + 1:02d}"})
            assert expenses.find_one({"_id": n}) is not None
            expenses.update_one({"_id": n}, {"$set": {"date": "2026-02-01"}})
            latest = list(expenses.find({"user_id": "u"}).sort("date", -1).limit(3))
            assert len(latest) == min(n + 1, 3)
    finally:
        client.close()
        db_server.stop()
    assert seen.looked_at > 100  # the connection's cursors were there to look at
    assert seen.positioned == []


def test_the_launchers_server_writes_no_oplog_and_still_takes_transactions(tmp_path: Path) -> None:
    """Nothing opens a change stream, so the launcher turns off the oplog entry SecantusDB wrote
    with every document (a 10,000-row import: 8.3-12.5 s with it, 6.8-7.8 without). What is
    checked is the switch (with it off, SecantusDB's ``_emit_oplog`` returns at once and
    ``local.oplog.rs`` is not shown); the server still says it is a replica set, which
    transactions need."""
    stack = Stack(data_dir=tmp_path, mongo_port=free_port())
    client: MongoClient[Any] = MongoClient(stack.start_mongo())
    try:
        assert client.admin.command("hello").get("setName")
        client.db.expenses.insert_many([{"_id": n} for n in range(20)])
        client.db.expenses.update_many({}, {"$set": {"seen": True}})
        with client.start_session() as session, session.start_transaction():
            client.db.expenses.insert_one({"_id": "in a transaction"}, session=session)
        assert client.db.expenses.count_documents({"seen": True}) == 20
        assert client.db.expenses.count_documents({}) == 21
        assert client.local["oplog.rs"].count_documents({}) == 0  # with it: 42
    finally:
        client.close()
        stack.stop()


def test_an_idle_transaction_is_aborted_after_the_launchers_lifetime(tmp_path: Path) -> None:
    """``--transaction-lifetime-seconds``, the launcher's own flag: a transaction left idle
    (its process killed) stops holding what it wrote once that long has passed, not after
    the server's built-in minute."""
    stack = Stack(data_dir=tmp_path, mongo_port=free_port(), transaction_lifetime_seconds=1)
    client: MongoClient[Any] = MongoClient(stack.start_mongo())
    try:
        rules = client.db.rules
        rules.insert_one({"_id": "rule", "next": 1})
        abandoned = client.start_session()
        abandoned.start_transaction()
        rules.update_one({"_id": "rule"}, {"$set": {"next": 2}}, session=abandoned)
        left_at = time.monotonic()

        def another_writer_gets_through() -> bool:
            with client.start_session() as session:
                try:
                    with session.start_transaction():
                        rules.update_one({"_id": "rule"}, {"$set": {"next": 3}}, session=session)
                except OperationFailure as exc:
                    if not exc.has_error_label("TransientTransactionError"):
                        raise
                    return False  # a write conflict: the abandoned transaction holds it
            return True

        wait_for(another_writer_gets_through, "the abandoned transaction to be reaped", 20)
        assert 1 <= time.monotonic() - left_at < 20
        with pytest.raises(OperationFailure):
            abandoned.commit_transaction()  # it is gone
        assert rules.find_one({"_id": "rule"}) == {"_id": "rule", "next": 3}
    finally:
        client.close()
        stack.stop()


def test_the_ttl_sweeper_waits_for_its_next_sweep_with_no_cursor_positioned(
    patched: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between sweeps the TTL sweeper parks for a minute; a cursor it left on a TTL index (the
    outbox's ``sent_at``) held up inserts near it for as long."""
    swept = threading.Event()
    seen = CursorsSeen()
    prune = storage.Storage.prune_ttl_all_collections  # with the launcher's release

    def then_look(self: storage.Storage, **options: Any) -> int:
        pruned: int = prune(self, **options)
        seen.look(self)
        swept.set()
        return pruned

    monkeypatch.setattr(storage.Storage, "prune_ttl_all_collections", then_look)
    with serving(tmp_path, ttl_sweep_seconds=0.2) as (_, client):
        outbox = client.db.outbox
        outbox.create_index("sent_at", expireAfterSeconds=3600)
        now = datetime.now(UTC)
        ages = [timedelta(minutes=100 if n < 30 else 10) for n in range(60)]
        outbox.insert_many([{"_id": n, "sent_at": now - age} for n, age in enumerate(ages)])
        # A sweep expires the 30 older than an hour; the one after it walks the 30 left.
        wait_for(lambda: outbox.count_documents({}) == 30, "a TTL sweep", 10)
        swept.clear()
        assert swept.wait(10), "no TTL sweep after that"
        assert outbox.count_documents({}) == 30
    assert seen.looked_at > 0  # the sweeper's cursors were there to look at
    assert seen.positioned == []


TTL_NOW = datetime(2026, 12, 8, 12, tzinfo=UTC)


def ttl_collections(store: storage.Storage) -> None:
    """Three collections with TTL indexes of an hour: a plain one, a partial one (only ``kind``
    "a" expires) and one whose field holds lists, strings and nothing; ages 0-119 minutes."""
    store.create_index("db", "plain", "sent_at", {"sent_at": 1}, {"expireAfterSeconds": 3600})
    store.create_index(
        "db",
        "partial",
        "at",
        {"at": 1},
        {"expireAfterSeconds": 3600, "partialFilterExpression": {"kind": "a"}},
    )
    store.create_index("db", "mixed", "at", {"at": 1}, {"expireAfterSeconds": 3600})
    minutes = [timedelta(minutes=n) for n in range(0, 120, 7)]
    store.insert("db", "plain", [{"_id": n, "sent_at": TTL_NOW - m} for n, m in enumerate(minutes)])
    store.insert(
        "db",
        "partial",
        [{"_id": n, "at": TTL_NOW - m, "kind": "ab"[n % 2]} for n, m in enumerate(minutes)],
    )
    old, new = TTL_NOW - timedelta(hours=2), TTL_NOW
    store.insert(
        "db",
        "mixed",
        [
            {"_id": "both", "at": [new, old]},
            {"_id": "new", "at": [new]},
            {"_id": "text", "at": "2020-01-01"},
            {"_id": "none"},
            {"_id": "old", "at": old},
        ],
    )


def survivors(store: storage.Storage) -> dict[str, list[Any]]:
    return {
        coll: sorted((doc["_id"] for doc in store.find_matching("db", coll, {})), key=str)
        for coll in ("plain", "partial", "mixed")
    }


def test_a_ttl_sweep_along_the_indexes_expires_what_a_scan_expires(
    restored: None, tmp_path: Path
) -> None:
    """SecantusDB's own sweep (a scan) and the launcher's (the TTL indexes' ranges, a scan for a
    partial index) leave the same documents, at a given time and at one given without a zone."""
    results = []
    for n, fixed in enumerate((False, True)):
        if fixed:
            secantusd.patch()
        store = storage.Storage(str(tmp_path / str(n)), ttl_sweep_seconds=0)
        try:
            ttl_collections(store)
            assert store.prune_ttl_all_collections(now=TTL_NOW) > 0
            swept_at_now = survivors(store)
            store.prune_ttl_all_collections(
                now=(TTL_NOW + timedelta(minutes=30)).replace(tzinfo=None)
            )
            results.append((swept_at_now, survivors(store)))
        finally:
            store.close()
    assert results[0] == results[1]
    at_now, later = results[1]
    assert at_now["mixed"] == ["new", "none", "text"]  # a list expires by any date in it
    assert {n for n in range(18) if n % 2} <= set(at_now["partial"])  # kind "b" never expires
    assert len(later["plain"]) < len(at_now["plain"]) < 18


def test_a_ttl_sweep_reads_only_what_its_indexes_hold_up_to_the_cutoff(
    patched: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep runs once a minute under the store's one lock, and SecantusDB read and matched
    every document of every TTL collection for it (the outbox's sent entries, processed events:
    100,000 of them held every command up 1.9 s a minute)."""
    store = storage.Storage(str(tmp_path), ttl_sweep_seconds=0)
    try:
        store.create_index("db", "outbox", "sent_at", {"sent_at": 1}, {"expireAfterSeconds": 3600})
        ages = [timedelta(hours=2 if n < 5 else 0) for n in range(500)]
        store.insert(
            "db", "outbox", [{"_id": n, "sent_at": TTL_NOW - a} for n, a in enumerate(ages)]
        )
        matched = 0
        match = storage.matches

        def counted(doc: dict[str, Any], query: dict[str, Any], **options: Any) -> bool:
            nonlocal matched
            matched += 1
            return bool(match(doc, query, **options))

        monkeypatch.setattr(storage, "matches", counted)
        assert store.prune_ttl_all_collections(now=TTL_NOW) == 5
        assert matched == 5  # a scan: 500
        assert len(store.find_matching("db", "outbox", {})) == 495
    finally:
        store.close()


def test_a_ttl_sweep_expires_a_document_in_its_cutoffs_own_millisecond(
    patched: None, tmp_path: Path
) -> None:
    """A date is kept to the millisecond and the sweep's time to the microsecond: a document sent
    at 11:00:00.000, an hour's TTL, expires at 12:00:00.0005 (its index entry, rounded down to the
    millisecond, is not below that cutoff's entry but equal to it)."""
    store = storage.Storage(str(tmp_path), ttl_sweep_seconds=0)
    try:
        store.create_index("db", "outbox", "sent_at", {"sent_at": 1}, {"expireAfterSeconds": 3600})
        sent = datetime(2026, 12, 8, 11, tzinfo=UTC)
        store.insert("db", "outbox", [{"_id": 1, "sent_at": sent}])
        now = sent + timedelta(hours=1, microseconds=500)
        assert store.prune_ttl_all_collections(now=now) == 1
        assert store.find_matching("db", "outbox", {}) == []
    finally:
        store.close()
