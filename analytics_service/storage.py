"""analytics_service's database ``analytics``."""

from __future__ import annotations

from shared.mongo import Database
from shared.outbox import UnitOfWork


async def create_indexes(db: Database) -> None:
    """Indexes of this service's collections (the user profiles are keyed by ``_id``)."""


async def purge_user(uow: UnitOfWork, user_id: str) -> None:
    """Removes everything this service keeps about a deleted user besides the profile tombstone."""
