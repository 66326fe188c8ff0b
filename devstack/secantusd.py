"""SecantusDB (``secantusd-py``) with five fixes: two for stalls under a large import, three later.

While one user imported 10,000 rows, other users' requests sometimes waited 20-70 s (9 of 16
runs). Both causes are inside SecantusDB 0.7.0b3; each fix alone removed the stalls (0 of 22):

- **Cursors left positioned.** The server caches a WiredTiger cursor per table for each
  connection (and for each transaction) and resets it only when it is next taken. A connection
  parked after a read keeps its cursor on a page, and an insert that must evict that page waits
  for it (the profile: inserts sleeping in ``__wt_page_in_func``). Here every command, and every
  statement of a transaction, lets go of its cursors when it ends.
- **One lock held while waiting for one transaction.** Every statement first reaps idle
  transactions (``TransactionRegistry._prune_locked``), holding the registry's lock while it
  takes each transaction's own lock in turn. One slow statement inside a transaction therefore
  queued every other transaction and retryable write of every user. Here the reaper passes over a
  transaction whose lock is taken: it is running a statement, so it is not idle.

Two more, found later (2026-12-03):

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

The fixes reach into SecantusDB's internals, so they are applied to the version they were made
for only; another version is refused (check whether it still needs them, then change
``PATCHED_VERSION``). A real ``mongod`` needs none of this (``MONGODB_URL``).

    python -m devstack.secantusd [secantusd-py's flags]
"""

from __future__ import annotations

import contextlib
import importlib.metadata
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
    from secantus import server, storage, transactions

    dispatch: Callable[[dict[str, Any], Any], dict[str, Any]] = server.dispatch

    def dispatch_then_release(doc: dict[str, Any], ctx: Any) -> dict[str, Any]:
        try:
            return dispatch(doc, ctx)
        finally:
            release_cursors(getattr(ctx.storage._tls, "cursors", {}))

    server.dispatch = dispatch_then_release

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

    def prune_idle(self: Any) -> int:
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

    transactions.TransactionRegistry._prune_locked = prune_idle

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

    def try_index_by_plain_fields(
        self: Any, db: str, coll: str, filter: dict[str, Any], **options: Any
    ) -> list[bytes] | None:
        found: list[bytes] | None = try_index(self, db, coll, filter, **options)
        if found is None and filter:
            plain = {key: value for key, value in filter.items() if not key.startswith("$")}
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


LOGICAL = frozenset({"$and", "$or", "$nor"})


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
    from secantus import cli

    result: int = cli.main()
    return result


if __name__ == "__main__":
    sys.exit(main())
