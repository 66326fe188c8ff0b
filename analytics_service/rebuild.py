"""Recovery: recompute analytics from the expense and budget services' data.

    python -m analytics_service.rebuild [--source-url MONGODB_URL]

Reads (never writes) the ``expenses`` and ``budgets`` databases, and replaces analytics'
expense projection, rollups, budget copies and user profiles with what they imply. Best run
with analytics_service stopped (``docker compose stop analytics_service``): events wait in its
queue meanwhile, and once it is back they apply on top (anything older than the rebuilt version
of an expense is ignored, as always). The rebuild is not one transaction: run alongside a live
analytics_service (as under ``make up``), an event handled during its few seconds may be
overwritten, so do that when nobody is writing.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from analytics_service.settings import Settings
from analytics_service.storage import create_indexes, rollup_documents
from shared.mongo import Database, Document
from shared.month import Month


def projection_of(expense: Document) -> Document:
    """An expense_service document as analytics' projection keeps it (amounts in the user's
    currency)."""
    return {
        "_id": expense["_id"],
        "user_id": expense["user_id"],
        "version": expense["version"],
        "kind": expense["kind"],
        "amount_cents": expense["base_amount_cents"],
        "category": expense["category"],
        "date": expense["date"],
        "month": Month.key_of(expense["date"]),
        "description": expense["description"],
        "deleted": False,
    }


def budget_of(budget: Document) -> Document:
    return {
        key: budget[key]
        for key in ("_id", "user_id", "month", "category", "amount_cents", "repeat", "version")
    }


async def rebuild(target: Database, expenses: Database, budgets: Database) -> dict[str, int]:
    projection = [projection_of(doc) async for doc in expenses.expenses.find()]
    rollups = rollup_documents(projection)
    budget_copies = [budget_of(doc) async for doc in budgets.budgets.find()]
    profiles = [doc async for doc in expenses.users.find()]
    replaced: dict[str, list[Document]] = {
        "expense_projection": projection,
        "rollups": rollups,
        "budgets": budget_copies,
        "users": profiles,
    }
    await create_indexes(target)  # first: it brings an older layout over, which is replaced
    for name, documents in replaced.items():
        await target[name].delete_many({})
        if documents:
            await target[name].insert_many(documents)
    return {name: len(documents) for name, documents in replaced.items()}


async def main(source_url: str | None) -> dict[str, int]:
    settings = Settings()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_url, serverSelectionTimeoutMS=5000
    )
    source: AsyncMongoClient[dict[str, Any]] = (
        AsyncMongoClient(source_url, serverSelectionTimeoutMS=5000) if source_url else client
    )
    try:
        for mongo in {id(client): client, id(source): source}.values():
            try:
                await mongo.admin.command("ping")
            except PyMongoError as exc:
                raise SystemExit(
                    f"cannot reach MongoDB ({exc.__class__.__name__}): start the "
                    "stack (make up) or set MONGODB_URL"
                ) from None
        return await rebuild(client[settings.mongodb_db], source["expenses"], source["budgets"])
    finally:
        await client.close()
        if source is not client:
            await source.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m analytics_service.rebuild",
        description=__doc__.split("\n")[1] if __doc__ else None,
    )
    parser.add_argument(
        "--source-url", help="where the expenses and budgets databases are (default: MONGODB_URL)"
    )
    counts = asyncio.run(main(parser.parse_args().source_url))
    print("rebuilt: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
