"""The weekly digest's schedule: each user's next digest time, kept in ``digest_schedule``.

A user's digest falls on their chosen weekday and hour in their time zone (Monday 08:00 unless
they choose otherwise) and covers the 7 days before that day. The scheduler (shared.scheduler,
one per notification_service process) requests each due digest from analytics_service with
digest.requested, in the same transaction as it moves the schedule to the next slot after
*now*, with a compare-and-set on the slot it read: so a digest is requested once per user and
week whichever replica runs it, and after downtime there is at most one late digest (the
latest week's), never a burst. The content comes back as digest.compiled (events.py).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from notification_service.models import WEEKDAYS, Preferences
from notification_service.storage import preferences_of
from shared import clock
from shared.events import DigestRequested
from shared.mongo import Database
from shared.scheduler import Scheduler
from shared.uow import Transactions, UnitOfWork

log = logging.getLogger(__name__)

DIGEST_NAMESPACE = uuid.UUID("0b7e4c1a-52f3-4d8e-a1c6-93f0d2e8b457")


def next_slot(after: datetime, timezone: str, weekday: str, hour: int) -> datetime:
    """The first ``weekday`` at ``hour``:00 in ``timezone`` strictly after ``after`` (UTC)."""
    zone = ZoneInfo(timezone)
    local = after.astimezone(zone)
    day = local.date() + timedelta(days=(WEEKDAYS.index(weekday) - local.weekday()) % 7)
    slot = datetime.combine(day, time(hour), zone)
    if slot <= local:
        slot = datetime.combine(day + timedelta(days=7), time(hour), zone)
    return slot.astimezone(UTC)


def week_before(slot: datetime, timezone: str) -> tuple[date, date]:
    """The 7 days a digest at ``slot`` covers: up to the day before it, in the user's calendar."""
    end = slot.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)
    return end - timedelta(days=6), end


def digest_id(user_id: str, end: date) -> str:
    return str(uuid.uuid5(DIGEST_NAMESPACE, f"{user_id}/{end.isoformat()}"))


async def reschedule(
    uow: UnitOfWork, user_id: str, timezone: str, preferences: Preferences
) -> None:
    """Places the user's next digest by their preferences and time zone (none when off),
    unless it is already placed by exactly these."""
    wanted = {
        "timezone": timezone,
        "weekday": preferences.digest_weekday,
        "hour": preferences.digest_hour,
        "enabled": preferences.weekly_digest,
    }
    current = await uow.db.digest_schedule.find_one({"_id": user_id}, session=uow.session)
    if current is not None and all(current.get(k) == v for k, v in wanted.items()):
        return
    due_at = (
        next_slot(clock.now(), timezone, preferences.digest_weekday, preferences.digest_hour)
        if preferences.weekly_digest
        else None
    )
    await uow.db.digest_schedule.update_one(
        {"_id": user_id}, {"$set": {**wanted, "due_at": due_at}}, upsert=True, session=uow.session
    )


class DigestScheduler:
    def __init__(self, db: Database, transactions: Transactions, horizon_seconds: float) -> None:
        self.db = db
        self.transactions = transactions
        self.scheduler = Scheduler("weekly digest", self.tick, horizon_seconds)

    async def backfill(self) -> None:
        """Accounts from before digests existed get a schedule (once; cheap afterwards)."""
        scheduled = {doc["_id"] async for doc in self.db.digest_schedule.find({}, {"_id": 1})}
        async for profile in self.db.users.find({"deleted": {"$ne": True}}, {"timezone": 1}):
            if profile["_id"] in scheduled or "timezone" not in profile:
                continue

            async def place(uow: UnitOfWork, profile: dict[str, Any] = profile) -> None:
                prefs = await preferences_of(uow.db, profile["_id"], uow.session)
                await reschedule(uow, profile["_id"], profile["timezone"], prefs)

            await self.transactions.run(place)

    async def tick(self, now: datetime, horizon: datetime) -> datetime | None:
        upcoming: datetime | None = None
        due = []
        async for doc in self.db.digest_schedule.find({"due_at": {"$lte": horizon}}):
            if doc["due_at"] <= now:
                due.append(doc)
            elif upcoming is None or doc["due_at"] < upcoming:
                upcoming = doc["due_at"]
        for doc in due:

            async def request(uow: UnitOfWork, doc: dict[str, Any] = doc) -> None:
                await self._request(uow, doc, now)

            try:
                await self.transactions.run(request)
            except Exception:
                log.exception("weekly digest of %s not requested; retried", doc["_id"])
                upcoming = now + timedelta(seconds=5)
        return upcoming

    async def _request(self, uow: UnitOfWork, schedule: dict[str, Any], now: datetime) -> None:
        user_id, timezone = schedule["_id"], schedule["timezone"]
        following = next_slot(now, timezone, schedule["weekday"], schedule["hour"])
        moved = await uow.db.digest_schedule.update_one(
            {"_id": user_id, "due_at": schedule["due_at"]},
            {"$set": {"due_at": following}},
            session=uow.session,
        )
        if moved.matched_count != 1:
            return  # another replica requested it
        # The latest slot at or before now: after downtime, one digest, of the latest week.
        latest = next_slot(
            following - timedelta(days=8), timezone, schedule["weekday"], schedule["hour"]
        )
        start, end = week_before(latest, timezone)
        if schedule.get("last_end") and schedule["last_end"] >= end.isoformat():
            return  # this week's went out already (the day or hour moved since): not twice
        await uow.db.digest_schedule.update_one(
            {"_id": user_id}, {"$set": {"last_end": end.isoformat()}}, session=uow.session
        )
        uow.emit(
            DigestRequested(digest_id=digest_id(user_id, end), start=start, end=end),
            user_id=user_id,
        )
