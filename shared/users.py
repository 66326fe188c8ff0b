"""A service's local copy of the user profiles it needs (currency, timezone, email).

Fed by user.registered / user.updated / user.deleted, so services never call user_service to
learn who a user is. Events may arrive out of order: a profile keeps the ``occurred_at`` it
reflects and ignores older news, and a deletion leaves a tombstone that later updates cannot
bring back. On user.deleted the service's own data is purged through its ``purge`` function.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypedDict, cast
from zoneinfo import ZoneInfo

from shared import clock
from shared.consumer import EventContext, Subscriptions, on
from shared.events import UserDeleted, UserProfile, UserRegistered, UserUpdated
from shared.mongo import Database
from shared.uow import UnitOfWork

PurgeUser = Callable[[UnitOfWork, str], Awaitable[None]]


class Profile(TypedDict):
    """A user as a service keeps them (collection ``users``), from user.* events."""

    _id: str
    email: str
    name: str | None
    currency: str
    timezone: str
    as_of: datetime


async def user_profile(db: Database, user_id: str) -> Profile | None:
    profile = await db.users.find_one({"_id": user_id, "deleted": {"$ne": True}})
    return cast(Profile, profile) if profile is not None else None


async def profile_and_now(db: Database, user_id: str) -> tuple[Profile | None, datetime]:
    """The user's profile (None until it is known) and now in their time zone (UTC till then),
    for "today" in paces and forecasts."""
    profile = await user_profile(db, user_id)
    return profile, clock.now().astimezone(ZoneInfo(profile["timezone"]) if profile else UTC)


def user_directory_handlers(purge: PurgeUser) -> Subscriptions:
    async def on_profile(payload: UserProfile, event: EventContext, uow: UnitOfWork) -> None:
        current = await uow.db.users.find_one({"_id": payload.user_id}, session=uow.session)
        if current is not None and (
            current.get("deleted") or current["as_of"] >= event.occurred_at
        ):
            return
        profile = payload.model_dump(exclude={"user_id"})
        await uow.db.users.update_one(
            {"_id": payload.user_id},
            {"$set": {**profile, "as_of": event.occurred_at}},
            upsert=True,
            session=uow.session,
        )

    async def on_deleted(payload: UserDeleted, event: EventContext, uow: UnitOfWork) -> None:
        await uow.db.users.replace_one(
            {"_id": payload.user_id},
            {"deleted": True, "as_of": event.occurred_at},
            upsert=True,
            session=uow.session,
        )
        await purge(uow, payload.user_id)

    return [
        on(UserRegistered, on_profile),
        on(UserUpdated, on_profile),
        on(UserDeleted, on_deleted),
    ]
