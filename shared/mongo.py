"""One PyMongo ``AsyncMongoClient`` per process, and the transaction helper every write uses."""

from __future__ import annotations

import linecache
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient, DeleteOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ClientBulkWriteException, OperationFailure
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

Document = dict[str, Any]
Database = AsyncDatabase[Document]
IndexSetup = Callable[[Database], Awaitable[None]]


def utcnow() -> datetime:
    """Now, to the millisecond: what BSON stores, so a value reads back as it was written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# The driver's server monitoring, unless MONGODB_URL sets it: one ``hello`` a minute, polled.
# The defaults (every 10 s, streamed, with a second connection measuring round trips) made the
# driver the largest source of database traffic in an idle stack: seven processes, about 1.3
# commands a second. What a longer interval costs: a replica set's new primary is noticed on the
# next failed operation (which re-checks at once) rather than up to 10 s sooner by a heartbeat.
MONITORING: dict[str, Any] = {"heartbeatfrequencyms": 60_000, "servermonitoringmode": "poll"}

# MongoDB 8.0's wire version: the first with ``bulkWrite`` across collections, in which a unit of
# work sends its writes and outbox entries together (shared.uow).
CLIENT_BULK_WRITE_WIRE_VERSION = 25


class UnsupportedServerError(Exception):
    """The database server is too old for this project: waiting will not help."""


def require_client_bulk_write(hello: Document) -> None:
    version = hello.get("maxWireVersion", 0)
    if not isinstance(version, int) or version < CLIENT_BULK_WRITE_WIRE_VERSION:
        raise UnsupportedServerError(
            f"MongoDB 8.0 or newer is needed (bulkWrite across collections); this server's"
            f" wire version is {version}, 8.0's is {CLIENT_BULK_WRITE_WIRE_VERSION}"
        )


class Mongo:
    def __init__(self, url: str, database: str) -> None:
        monitoring = {
            option: value for option, value in MONITORING.items() if option not in url.lower()
        }
        # tz_aware: datetimes come back as aware UTC, as they went in.
        self.client: AsyncMongoClient[Document] = AsyncMongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=5000, appname=database, **monitoring
        )
        # The driver formats the stack it was made on (for its warning about an unclosed
        # client), which reads every source file on that stack into linecache: FastAPI's and
        # its own, about 1.7 MiB kept for the life of the process, for nothing.
        linecache.clearcache()
        self.db: Database = self.client[database]

    async def check_server(self) -> None:
        """Refuses a server without what the services use (UnsupportedServerError): one that
        says it is older than 8.0, or an 8.0 that still refuses ``bulkWrite`` (upgraded from
        7.0, its featureCompatibilityVersion not raised yet), asked with a delete of nothing."""
        require_client_bulk_write(await self.client.admin.command("hello"))
        outbox = self.db.outbox.full_name
        nothing = DeleteOne({"_id": f"check-{uuid.uuid4().hex}"}, namespace=outbox)
        try:
            await self.client.bulk_write([nothing])
        except ClientBulkWriteException as exc:
            if isinstance(exc.error, OperationFailure):
                raise UnsupportedServerError(
                    f"the server refused bulkWrite across collections ({exc.error}): MongoDB 8.0"
                    " with featureCompatibilityVersion 8.0 is needed, and readWrite on the"
                    " service's database"
                ) from exc
            raise

    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
        except Exception:
            return False
        return True

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncClientSession]:
        """A session inside a transaction: commits on exit, aborts on any exception."""
        async with (
            self.client.start_session() as session,
            await session.start_transaction(
                read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
            ),
        ):
            yield session

    async def close(self) -> None:
        await self.client.close()
