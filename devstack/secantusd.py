"""SecantusDB (``secantusd-py``) with our fixes: for stalls under a large import, scans, bookkeeping
and a misreported conflict.

While one user imported 10,000 rows, other users' requests sometimes waited 20-70 s (9 of 16
runs). Both causes are inside SecantusDB 0.7.0b3; each fix alone removed the stalls (0 of 22):

- **Cursors left positioned.** The server caches a WiredTiger cursor per table for each
  connection (and for each transaction) and resets it only when it is next taken. A connection
  parked after a read keeps its cursor on a page, and an insert that must evict that page waits
  for it (the profile: inserts sleeping in ``__wt_page_in_func``). Here every command, and every
  statement of a transaction, lets go of its cursors when it ends; so does the TTL sweeper after
  each sweep (added 2026-12-07: it parks for a minute between sweeps with its cursors on the TTL
  indexes it walked, the outbox's ``sent_at`` among them, and a 4,000-row import stood still in
  ``__wt_page_in_func`` for 40-55 s, with the machine idle, in 3 of 3 runs late in the suite).
- **One lock held while waiting for one transaction.** Every statement first reaps idle
  transactions (``TransactionRegistry._prune_locked``), holding the registry's lock while it
  takes each transaction's own lock in turn. One slow statement inside a transaction therefore
  queued every other transaction and retryable write of every user. Here the reaper passes over a
  transaction whose lock is taken: it is running a statement, so it is not idle.

Four more, found later (2026-12-03):

- **A conflict at commit answered as an internal error.** When a concurrent transaction marks
  one rollback-only after its last statement, WiredTiger refuses the commit with a bare
  "Invalid argument"; SecantusDB reports that to the client as ``InternalError`` (code 1), so
  the driver and ``shared.uow`` could not retry it, and a large import stopped part-way in 5 of 6
  runs of two 50,000-row uploads. Here it is the ``WriteConflict`` (112, with the
  ``TransientTransactionError`` label) it is, which SecantusDB already makes of the same failure
  in its own batch commits.
- **A filter with ``$and``/``$or``/``$nor`` beside plain fields read the whole collection.** Every
  ``findAndModify`` that updates a document is run as ``{_id: x, $and: [query]}``, and
  ``{user_id: u, $or: [...]}`` is how budgets in force are asked for: both skipped every index,
  so their cost grew with every user's documents (the database's CPU per expense 30.7 ms at 200
  users, 55.6 ms at 600). Here such a filter is looked up by its plain fields, as mongod does;
  every caller applies the whole filter to what the lookup returns, as it already does for the
  one-clause lookups SecantusDB makes itself.
- **The index catalogue read again for every document written.** Each inserted document
  re-read every index's options from the catalogue table three times (the unique check, the geo
  check and the index entries: ``Storage._index_options_map``, a cursor walk and a BSON decode
  per index), though the chunk holds the collection's lock, so no index can come or go
  meanwhile: a fifth of the server's samples while one user imported 10,000 rows. Here a chunk of
  inserts (and an update or delete statement) reads it once.
- **The catalogue read again for every command.** Every insert, update, find and commit reads
  the collection's options and its index list from the catalogue tables (a cursor search, a
  key packed in Python, a BSON decode per entry), though they change only when a collection or
  an index is made, dropped or changed: 30% of the server's samples on the write path of one
  expense. Here what was read is kept (``CatalogueCache``), as long as the catalogue has not
  changed since the reader's snapshot began; every method that writes it counts as a change
  from its start until what it wrote is committed or rolled back.

And two more (2026-12-07):

- **Bookkeeping read in full by every statement.** Each retryable write (a write outside a
  transaction) prunes the replies kept for retries, twice, by reading all of them (up to 10,000,
  kept half an hour) and, once there are 10,000, sorting them all: a retryable write then took
  4.6 ms where it takes 1.3 (11,000 in a row, measured against a stack). Every statement also
  read every transaction the server had seen (about 150 after 150 users had spent once) to reap
  the idle ones, and every command every session. Here the replies are kept oldest first and
  pruned from the front (reading only what is dropped), and idle transactions and sessions are
  swept at most once a second (``SWEEP_SECONDS``; a tenth of a shorter lifetime), or at once
  when asked for.
- **A filter with a field no index holds looked up by one field.** SecantusDB looks such a
  filter up by one of its fields alone (the first an index leads with: the user), so a text
  search in one month, or a category with an amount, read every entry of the account and
  applied the rest to each. mongod looks it up by the fields one index holds, and so does this
  (``held_by``: the index's leading fields the filter pins, then at most one it bounds), when
  that is two fields or more. 50,000 entries of one user: a text search in one month 2.2 s ->
  0.2 s, a category with a minimum amount 1.7 s -> 0.5 s (the list's aggregation: 2.24 -> 0.26
  and 1.74 -> 0.44 s).

And one (2026-12-07, later): **a transaction could not begin with ``bulkWrite``.** Its first
statement carries the transaction's ``readConcern``, which mongod takes on every command and
SecantusDB's ``bulkWrite`` refused as an unknown field; a unit of work whose writes are all
queued (``shared.uow``) begins that way.

And one (2026-12-08): **the TTL sweep read every document of every TTL collection.** Once a
minute SecantusDB walked each collection with a TTL index (the outbox's sent entries, kept a
week; processed events, kept 30 days; idempotency keys, ...) and decoded and matched every
document in it, holding the store's one lock, so every command waited for it: 20,000 such
documents held reads up 0.3 s a minute, 100,000 1.9 s, and the collections grow with every
event. Here the sweep looks up, along each TTL index, what lies up to its cutoff
(``expired_candidates``; a partial index still scans), and SecantusDB applies its own filter to
those as before: 5.8 ms at 100,000.

The fixes reach into SecantusDB's internals, so they are applied to the version they were made
for only; another version is refused (check whether it still needs them, then change
``PATCHED_VERSION``). A real ``mongod`` needs none of this (``MONGODB_URL``).

The launcher also turns off SecantusDB's oplog. It is written for change streams, which
nothing here opens (live notifications come through RabbitMQ), yet cost an entry, encoded and
stored, for every document written: a 10,000-row import (``bench.import_csv``) took 8.3-12.5 s
with it and 6.8-7.8 s without, alternating on one machine. The server still says it is a
replica set, which transactions need; ``local.oplog.rs`` stays empty.

One flag is the launcher's own: ``--transaction-lifetime-seconds N`` (60 by default, as
mongod's ``transactionLifetimeLimitSeconds``), how long a transaction may idle before the
server aborts it. secantusd-py takes it as a constructor argument but has no flag for it. The
test stack shortens it: a process killed mid-transaction holds that transaction's documents
until it is reaped, and a crash test would otherwise wait a minute for that.

    python -m devstack.secantusd [--transaction-lifetime-seconds N] [secantusd-py's flags]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import importlib.metadata
import math
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

PATCHED_VERSION = "0.7.0b3"


def release_cursors(cursors: dict[Any, Any]) -> None:
    """Let go of the pages cached cursors are positioned on (they stay open, for reuse)."""
    for cursor in list(cursors.values()):
        with contextlib.suppress(Exception):  # a cursor whose table was dropped meanwhile
            cursor.reset()


def patch() -> None:
    from secantus import commands, server, sessions, storage, transactions

    # A transaction's first statement carries its readConcern; bulkWrite refused it.
    commands._BULK_WRITE_KNOWN_FIELDS = commands._BULK_WRITE_KNOWN_FIELDS | {"readConcern"}

    dispatch: Callable[[dict[str, Any], Any], dict[str, Any]] = server.dispatch

    def dispatch_then_release(doc: dict[str, Any], ctx: Any) -> dict[str, Any]:
        with CatalogueCache.of(ctx.storage).command():
            try:
                return dispatch(doc, ctx)
            finally:
                release_cursors(getattr(ctx.storage._tls, "cursors", {}))

    server.dispatch = dispatch_then_release

    prune_ttl_all_collections = storage.Storage.prune_ttl_all_collections

    def prune_ttl_then_release(self: Any, **options: Any) -> int:
        try:
            pruned: int = prune_ttl_all_collections(self, **options)
        finally:
            release_cursors(getattr(self._tls, "cursors", {}))
        return pruned

    storage.Storage.prune_ttl_all_collections = prune_ttl_then_release

    prune_ttl = storage.Storage.prune_ttl
    scan_docs = storage.Storage._scan_docs
    pruning = threading.local()  # the collection this thread prunes, and the time it prunes at

    def prune_ttl_along_indexes(
        self: Any, db: str, coll: str, *, now: datetime.datetime | None = None
    ) -> int:
        when = now or datetime.datetime.now(datetime.UTC)
        if when.tzinfo is None:  # as SecantusDB reads a naive time
            when = when.replace(tzinfo=datetime.UTC)
        pruning.at = (db, coll, when)
        try:
            pruned: int = prune_ttl(self, db, coll, now=when)
        finally:
            pruning.at = None
        return pruned

    def scan_docs_or_expired(self: Any, db: str, coll: str) -> Any:
        at = getattr(pruning, "at", None)
        if at is None or at[:2] != (db, coll):
            return scan_docs(self, db, coll)
        pruning.at = None  # once: the lookups below may fall back to a scan, a real one
        return expired_candidates(self, db, coll, at[2])

    storage.Storage.prune_ttl = prune_ttl_along_indexes
    storage.Storage._scan_docs = scan_docs_or_expired

    install_txn_session = storage.Storage._install_txn_session

    @contextlib.contextmanager
    def install_then_release(self: Any, handle: Any) -> Iterator[None]:
        with install_txn_session(self, handle):
            try:
                yield
            finally:
                release_cursors(handle.cursors)

    storage.Storage._install_txn_session = install_then_release

    in_progress = transactions.TxnState.IN_PROGRESS

    def reap_idle(self: Any) -> int:
        cutoff = self._time() - self._lifetime
        reaped = 0
        for txn in list(self._txns.values()):
            if not txn.mutex.acquire(blocking=False):
                continue  # running a statement now, so not idle
            try:
                if txn.state is in_progress and txn.last_use < cutoff:
                    self._rollback_quietly(txn)
                    txn.state = transactions.TxnState.ABORTED
                    reaped += 1
            finally:
                txn.mutex.release()
        return reaped

    registry = transactions.TransactionRegistry
    # From every statement, commit and abort: at most once a sweep interval.
    registry._prune_locked = now_and_then(reap_idle, "_lifetime")

    registry.prune_expired = under_lock(reap_idle)  # asked for: at once

    make_registry = registry.__init__

    def with_records_oldest_first(self: Any, *args: Any, **kwargs: Any) -> None:
        make_registry(self, *args, **kwargs)
        self._retryable = OldestFirst(self._retryable)

    registry.__init__ = with_records_oldest_first
    registry._prune_retryable_locked = drop_retryable_records_oldest_first
    drop_idle_sessions = sessions.SessionRegistry._prune_locked
    # From every command (its session is registered again): at most once a sweep interval.
    sessions.SessionRegistry._prune_locked = now_and_then(drop_idle_sessions, "_idle_ttl")
    sessions.SessionRegistry.prune_idle = under_lock(drop_idle_sessions)  # asked for: at once

    commit_user_transaction = storage.Storage.commit_user_transaction

    def commit_or_conflict(self: Any, handle: Any, **options: Any) -> int:
        try:
            result: int = commit_user_transaction(self, handle, **options)
        except Exception as exc:
            if rolled_back_by_a_conflict(exc):
                raise storage.WriteConflictError(str(exc)) from exc
            raise
        return result

    storage.Storage.commit_user_transaction = commit_or_conflict

    try_index = storage.Storage._try_index_id_keys
    bounds = frozenset(storage.Storage._RANGE_OPS)  # what SecantusDB looks up along an index
    geo = frozenset(storage.Storage._GEO_OPS)  # its geo indexes' queries: left to them

    def try_index_by_plain_fields(
        self: Any, db: str, coll: str, filter: dict[str, Any], **options: Any
    ) -> list[bytes] | None:
        plain = {key: value for key, value in filter.items() if not key.startswith("$")}
        if len(plain) == len(filter) > 2 and not any(
            isinstance(value, dict) and value.keys() & geo for value in plain.values()
        ):
            held = max(
                (
                    held_by(key_spec, plain, bounds)
                    for _name, key_spec, *_ in self._all_indexes(db, coll)
                ),
                key=len,
                default=[],
            )
            if 2 <= len(held) < len(plain):  # no index holds every field; one holds 2 or more
                found: list[bytes] | None = try_index(
                    self, db, coll, {field: plain[field] for field in held}, **options
                )
                if found is not None:
                    return found
        found = try_index(self, db, coll, filter, **options)
        if found is None and filter:
            operators = filter.keys() - plain.keys()
            if plain and operators and operators <= LOGICAL:
                found = try_index(self, db, coll, plain, **options)
        return found

    storage.Storage._try_index_id_keys = try_index_by_plain_fields

    options_map = storage.Storage._index_options_map
    statement = threading.local()  # this thread's statement under way, and what it has read

    def options_map_once(self: Any, db: str, coll: str) -> dict[str, dict[str, Any]]:
        read: dict[tuple[str, str], dict[str, dict[str, Any]]] | None = getattr(
            statement, "read", None
        )
        if read is None:  # not inside one of the statements below
            return cast(dict[str, dict[str, Any]], options_map(self, db, coll))
        found = read.get((db, coll))
        if found is None:
            found = read[(db, coll)] = options_map(self, db, coll)
        return found

    storage.Storage._index_options_map = options_map_once
    for name in WRITE_STATEMENTS:
        setattr(
            storage.Storage, name, reading_indexes_once(getattr(storage.Storage, name), statement)
        )
    CatalogueCache.patch(storage)


# How often the bookkeeping that every statement prunes is swept in full: idle transactions (a
# lifetime of a minute; 10 s or 1 s in tests) and idle sessions (half an hour), or a tenth of
# that lifetime when it is shorter. An idle transaction is reaped between its lifetime and a
# tenth more (mongod's own reaper looks once a minute).
SWEEP_SECONDS = 1.0


def expired_candidates(
    store: Any, db: str, coll: str, when: datetime.datetime
) -> list[tuple[int, bytes, bytes]]:
    """The documents a TTL sweep at ``when`` should look at in ``db.coll``: those its TTL indexes
    hold up to their cutoff, a superset of what expires (SecantusDB still applies each index's
    whole filter, partial filter included, to each). Up to, not below: an index holds a date to
    the millisecond, rounded down, so one in the cutoff's own millisecond may be before it. What
    is not a date ranks below dates and is looked at too (an outbox entry not yet sent, with no
    ``sent_at``): few. An index that cannot be looked up that way (a partial one, say) falls back
    to every document, as SecantusDB does for all of them."""
    found: dict[int, tuple[int, bytes, bytes]] = {}
    for _name, key_spec, options in store._iter_indexes(db, coll):
        ttl = options.get("expireAfterSeconds")
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or len(key_spec) != 1:
            continue  # not a TTL index SecantusDB expires by
        (field,) = key_spec
        if field == "_id":
            continue
        try:
            cutoff = when - datetime.timedelta(seconds=float(ttl))
        except (OverflowError, ValueError):  # a cutoff SecantusDB skips too: no candidates
            continue
        for row in store._candidates_iter(db, coll, {field: {"$lte": cutoff}}):
            found.setdefault(row[0], row)
    return list(found.values())


def under_lock(sweep: Callable[[Any], int]) -> Callable[[Any], int]:
    """``sweep(registry)`` under the registry's lock, at once: for a sweep asked for."""

    def swept(self: Any) -> int:
        with self._lock:
            return sweep(self)

    return swept


def now_and_then(sweep: Callable[[Any], int], lifetime: str) -> Callable[[Any], int]:
    """``sweep(registry)`` when a sweep interval has passed since its last one (by the
    registry's own clock; its ``lifetime`` attribute caps the interval at a tenth), else
    nothing: for the calls made on every statement."""

    def sweep_now_and_then(self: Any) -> int:
        now = self._time()
        interval = min(SWEEP_SECONDS, getattr(self, lifetime) / 10)
        next_sweep = getattr(self, "_devstack_next_sweep", -math.inf)
        # A clock set back (``time.time``) would otherwise hold off sweeps as long as the step.
        if next_sweep - interval <= now < next_sweep:
            return 0
        self._devstack_next_sweep = now + interval
        return sweep(self)

    return sweep_now_and_then


class OldestFirst(collections.OrderedDict[Any, Any]):
    """A dict whose first entry is the one set longest ago (a key set again moves to the end),
    so what has expired is found at the front without reading the rest."""

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)


def drop_retryable_records_oldest_first(self: Any) -> None:
    """``TransactionRegistry._prune_retryable_locked``, run on every retryable write (twice):
    drops the records past their lifetime and the oldest beyond the cap, reading only those."""
    from secantus import transactions

    records: OldestFirst = self._retryable
    cutoff = self._time() - transactions._RETRYABLE_RECORD_LIFETIME_SECONDS
    while records:
        _reply, recorded_at, _identity = next(iter(records.values()))
        if recorded_at >= cutoff and len(records) <= transactions._RETRYABLE_RECORD_MAX:
            break
        records.popitem(last=False)


# Each runs with the collection's lock held for all it does with indexes (index changes take it
# too): a chunk of an insert, an update or delete of one transaction, a larger one (chunked).
WRITE_STATEMENTS = (
    "_insert_chunk",
    "_update_matching_single_txn",
    "_update_matching_chunked",
    "_update_chunk",
    "_delete_matching_single_txn",
    "_delete_matching_chunked",
    "_delete_chunk",
)


def reading_indexes_once(
    method: Callable[..., Any], statement: threading.local
) -> Callable[..., Any]:
    def one_statement(self: Any, *args: Any, **kwargs: Any) -> Any:
        outer = getattr(statement, "read", None)
        # Nested: what the outer statement read still holds (its locks are held); what this
        # one reads ends with it, as its collection's lock does.
        statement.read = {} if outer is None else dict(outer)
        try:
            return method(self, *args, **kwargs)
        finally:
            statement.read = outer

    return one_statement


class CatalogueCache:
    """What a store's catalogue tables hold (a collection's options, its indexes; a database's
    profiling level), kept between commands as the bytes read (decoded for each reader, who
    may change what it gets).

    ``generation`` counts changes: a method that writes the catalogue adds one when it starts
    and one more when what it wrote is committed or rolled back (at the end of the command, or
    of the client's transaction it ran in); ``writers`` counts those under way. A reader uses or
    fills the cache only when no writer is under way and the generation is the one it was when
    its snapshot began (its command started, or its transaction's first statement), so what it
    reads from the cache is what its own snapshot would show. Outside a command (start-up,
    background sweeps) the catalogue is read as before.
    """

    # Every Storage method of 0.7.0b3 that writes the tables kept here (``_COLL_TABLE``,
    # ``_IDX_TABLE``, ``_PROFILE_TABLE``) but the two that write only sometimes, wrapped below.
    WRITERS = (
        "_write_coll_options",
        "create_collection",
        "drop_collection",
        "rename_collection",
        "drop_database",
        "create_index",
        "drop_index",
        "drop_all_indexes",
        "set_index_expiry",
        "set_index_options",
        "set_profile",  # a database's profiling level, read by every command (get_profile)
    )
    _made = threading.Lock()
    _local = threading.local()  # this thread's command: the generation it began at, and
    # whether it wrote the catalogue

    def __init__(self) -> None:
        self.generation = 0
        self.writers = 0
        self.lock = threading.Lock()
        self.entries: dict[tuple[str, str, str], tuple[int, Any]] = {}
        # A client's transaction, by id(its WT session): the generation at its first statement.
        self.transactions: dict[int, int] = {}
        self.writing_transactions: set[int] = set()

    @classmethod
    def of(cls, store: Any) -> CatalogueCache:
        cache: CatalogueCache | None = getattr(store, "_devstack_catalogue", None)
        if cache is None:
            # Under a lock: two connections' first commands each making one, a writer counted
            # on one and a reader filling the other would keep a stale catalogue.
            with cls._made:
                cache = getattr(store, "_devstack_catalogue", None)
                if cache is None:
                    cache = store._devstack_catalogue = cls()
        return cache

    def changing(self) -> None:
        with self.lock:
            self.writers += 1
            self.generation += 1

    def changed(self) -> None:
        with self.lock:
            self.generation += 1
            self.writers -= 1

    @contextlib.contextmanager
    def command(self) -> Iterator[None]:
        local = self._local
        outer = getattr(local, "command", None)
        local.command = [self.generation, False]
        try:
            yield
        finally:
            wrote = local.command[1]
            local.command = outer
            if wrote:
                self.changed()

    def view(self, store: Any) -> int | None:
        """The generation this thread's snapshot reflects, when the cache may serve it."""
        if self.writers:
            return None
        # In a client's transaction (its statements, and its commit) the thread runs on the
        # transaction's own session, whose snapshot began at its first statement.
        began = self.transactions.get(id(getattr(store._tls, "session", None)))
        if began is None:
            command = getattr(self._local, "command", None)
            began = None if command is None else command[0]
        return began if began == self.generation else None

    def read(self, store: Any, key: tuple[str, str, str], read: Callable[[], Any]) -> Any:
        view = self.view(store)
        if view is not None:
            entry = self.entries.get(key)
            if entry is not None and entry[0] == view:
                return entry[1]
        value = read()
        if view is not None:
            with self.lock:
                if self.generation == view and not self.writers:
                    self.entries[key] = (view, value)
        return value

    def write(self, store: Any, method: Callable[[], Any]) -> Any:
        handle = getattr(store._tls, "user_txn", None)
        command = getattr(self._local, "command", None)
        if handle is not None:  # committed or rolled back when the transaction ends
            if id(handle.session) not in self.writing_transactions:
                self.writing_transactions.add(id(handle.session))
                self.changing()
            return method()
        if command is not None:  # committed by the end of the command
            if not command[1]:
                command[1] = True
                self.changing()
            return method()
        self.changing()
        try:
            return method()
        finally:
            self.changed()

    @classmethod
    def patch(cls, storage: Any) -> None:
        store_class = storage.Storage
        coll_table, idx_table = storage._COLL_TABLE, storage._IDX_TABLE

        def coll_options(self: Any, db: str, coll: str) -> dict[str, Any] | None:
            def read() -> bytes | None:
                c = self._cursor(coll_table)
                c.set_key(db, coll)
                return None if c.search() != 0 else bytes(c.get_value())

            # Decoded for each reader: two of them change what they get before writing it.
            blob = cls.of(self).read(self, ("options", db, coll), read)
            return None if blob is None else storage.bson.decode(blob) if blob else {}

        def iter_indexes(
            self: Any, db: str, coll: str
        ) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
            def read() -> list[tuple[str, bytes]]:
                c = self._cursor(idx_table)
                c.set_key(db, coll, "")
                found: list[tuple[str, bytes]] = []
                rc = c.search_near()
                if rc == storage.wt.WT_NOTFOUND or (rc < 0 and c.next() != 0):
                    return found
                while True:
                    k = c.get_key()
                    if k[0] != db or k[1] != coll:
                        return found
                    found.append((k[2], bytes(c.get_value())))
                    if c.next() != 0:
                        return found

            for name, blob in cls.of(self).read(self, ("indexes", db, coll), read):
                payload = storage.bson.decode(blob)
                yield name, payload.get("key", {}), payload.get("options", {})

        store_class._coll_options = coll_options
        store_class._iter_indexes = iter_indexes

        def writer(method: Callable[..., Any]) -> Callable[..., Any]:
            def writing(self: Any, *args: Any, **kwargs: Any) -> Any:
                return cls.of(self).write(self, lambda: method(self, *args, **kwargs))

            return writing

        for name in cls.WRITERS:
            setattr(store_class, name, writer(getattr(store_class, name)))

        get_profile = store_class.get_profile

        def profile(self: Any, db: str) -> dict[str, Any]:
            kept = cls.of(self).read(self, ("profile", db, ""), lambda: get_profile(self, db))
            return dict(kept)

        store_class.get_profile = profile

        ensure_collection = store_class._ensure_collection

        def ensure(self: Any, db: str, coll: str) -> None:
            if self._coll_options(db, coll) is None:  # it writes only then
                cls.of(self).write(self, lambda: ensure_collection(self, db, coll))

        store_class._ensure_collection = ensure

        mark_multikey = store_class._maybe_mark_multikey
        makes_multikey = storage._doc_makes_multikey

        def maybe_mark_multikey(
            self: Any,
            db: str,
            coll: str,
            doc: Any,
            indexes: list[tuple[str, dict[str, Any], bool, bool]],
            already: set[str],
        ) -> set[str]:
            if not any(
                name not in already and makes_multikey(doc, key_spec)
                for name, key_spec, _sparse, _unique in indexes
            ):
                return already  # it writes only when a document makes an index multikey
            marked: set[str] = cls.of(self).write(
                self, lambda: mark_multikey(self, db, coll, doc, indexes, already)
            )
            return marked

        store_class._maybe_mark_multikey = maybe_mark_multikey

        use_user_transaction = store_class.use_user_transaction

        @contextlib.contextmanager
        def use(self: Any, handle: Any) -> Iterator[Any]:
            if not handle.began:  # its snapshot begins now
                cache = cls.of(self)
                cache.transactions[id(handle.session)] = cache.generation
            with use_user_transaction(self, handle) as used:
                yield used

        store_class.use_user_transaction = use

        close_session = store_class._close_user_txn_session

        def close(self: Any, handle: Any) -> None:
            ended = not handle.closed
            close_session(self, handle)
            if ended:
                cache = cls.of(self)
                cache.transactions.pop(id(handle.session), None)
                if id(handle.session) in cache.writing_transactions:
                    cache.writing_transactions.discard(id(handle.session))
                    cache.changed()

        store_class._close_user_txn_session = close


LOGICAL = frozenset({"$and", "$or", "$nor"})
PINNED = (str, int, float, datetime.datetime)  # values looked up as they are (not null, a list...)


def held_by(key_spec: dict[str, Any], filter: dict[str, Any], bounds: frozenset[str]) -> list[str]:
    """The fields of ``filter`` an index on ``key_spec`` can look up together: its leading
    fields the filter pins to a value, and then at most one it bounds (``bounds``: ``$gt``,
    ``$in``...)."""
    held: list[str] = []
    for field in key_spec:
        value = filter.get(field)
        if isinstance(value, PINNED) and not isinstance(value, bool):
            held.append(field)
            continue
        if isinstance(value, dict) and value and value.keys() <= bounds:
            held.append(field)
        break
    return held


def rolled_back_by_a_conflict(exc: BaseException) -> bool:
    """WiredTiger's answer to committing a transaction a concurrent one marked rollback-only:
    a bare EINVAL, "Invalid argument" (the conflict itself goes only to its log). SecantusDB
    maps it to a write conflict for its own batch commits (``_commit_batch_transaction``), not
    for a client's ``commitTransaction``."""
    from secantus import storage

    message = str(exc).strip()
    return isinstance(exc, storage.wt.WiredTigerError) and (
        message == "Invalid argument" or storage._is_wt_rollback(exc)
    )


def positive_seconds(text: str) -> float:
    seconds = float(text)
    if not seconds > 0:  # 0 would abort every transaction between two of its statements
        raise argparse.ArgumentTypeError(f"{text}: a number of seconds above 0")
    return seconds


def main() -> int:
    version = importlib.metadata.version("secantusdb")
    if version != PATCHED_VERSION:
        print(
            f"secantusd: SecantusDB {version} is installed; these fixes were made for"
            f" {PATCHED_VERSION} (devstack/secantusd.py says what to check)",
            file=sys.stderr,
        )
        return 2
    patch()
    own = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    own.add_argument("--transaction-lifetime-seconds", type=positive_seconds, default=60.0)
    ours, sys.argv[1:] = own.parse_known_args()
    from secantus import cli, server

    build = server.SecantusDBServer.__init__

    def built_as_launched(self: Any, *args: Any, **kwargs: Any) -> None:
        build(self, *args, **kwargs, transaction_lifetime_seconds=ours.transaction_lifetime_seconds)
        # Written only for change streams, which nothing here opens (live notifications come
        # through RabbitMQ): an oplog entry, encoded and stored, for every document written.
        self.storage.enable_oplog = False

    server.SecantusDBServer.__init__ = built_as_launched
    result: int = cli.main()
    return result


if __name__ == "__main__":
    sys.exit(main())
