"""A ledger on a real Mongo-wire server, for one user, in a database of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from expense_service import counts
from expense_service.ledger import Ledger
from expense_service.limits import HardLimits
from expense_service.storage import create_indexes
from shared.auth import Principal
from shared.mongo import Mongo
from shared.uow import Transactions, UnitOfWork


@dataclass
class Books:
    mongo: Mongo
    transactions: Transactions
    ledger: Ledger
    user: Principal


@pytest.fixture
async def books(mongo_url: str) -> AsyncIterator[Books]:
    mongo = Mongo(mongo_url, f"test_{uuid.uuid4().hex[:8]}")
    await create_indexes(mongo.db)
    transactions = Transactions(mongo, producer="tests")
    user = Principal(user_id=str(uuid.uuid4()), token_version=0, session_id=None, token="t")
    await mongo.db.users.insert_one(
        {"_id": user.user_id, "email": "a@example.com", "currency": "USD", "timezone": "UTC"}
    )
    await mongo.db.categories.insert_one(
        {"_id": str(uuid.uuid4()), "user_id": user.user_id, "key": "st. pauli"}
    )

    async def register(uow: UnitOfWork) -> None:
        await counts.mark_counted(uow, user.user_id)

    await transactions.run(register)
    async with httpx.AsyncClient() as http:
        limits = HardLimits(mongo.db, http, "http://127.0.0.1:9")  # no budgets: never called
        yield Books(mongo, transactions, Ledger(mongo.db, transactions, limits), user)
    await mongo.client.drop_database(mongo.db.name)
    await mongo.close()
