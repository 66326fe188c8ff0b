"""notification_service's database ``notifications``: the feed, preferences, the email queue,
per-user sequence numbers (the SSE event ids) and the user profiles (shared.users)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from notification_service.models import NotificationOut, Preferences
from shared.events import NotificationCreated
from shared.leased import create_lease_indexes
from shared.mongo import Database, Document, utcnow
from shared.uow import UnitOfWork

EMAIL_RETENTION_SECONDS = 30 * 24 * 3600
WEBHOOK_RETENTION = 30 * 24 * 3600  # deliveries and their attempts, kept to be looked at


async def create_indexes(db: Database) -> None:
    await db.notifications.create_index([("user_id", ASCENDING), ("seq", DESCENDING)])
    await db.notifications.create_index([("user_id", ASCENDING), ("read_at", ASCENDING)])
    await create_lease_indexes(db.emails)
    await db.emails.create_index("user_id")
    await db.emails.create_index("sent_at", expireAfterSeconds=EMAIL_RETENTION_SECONDS)
    await db.digest_schedule.create_index("due_at", sparse=True)
    await db.webhooks.create_index([("user_id", ASCENDING), ("events", ASCENDING)])
    await create_lease_indexes(db.webhook_deliveries)
    await db.webhook_deliveries.create_index("webhook_id")
    await db.webhook_deliveries.create_index("created_at", expireAfterSeconds=WEBHOOK_RETENTION)
    await db.webhook_attempts.create_index([("webhook_id", ASCENDING), ("at", DESCENDING)])
    await db.webhook_attempts.create_index("at", expireAfterSeconds=WEBHOOK_RETENTION)


async def purge_user(uow: UnitOfWork, user_id: str) -> None:
    for name in ("notifications", "emails", "webhooks", "webhook_deliveries", "webhook_attempts"):
        await uow.db[name].delete_many({"user_id": user_id}, session=uow.session)
    for name in ("preferences", "sequences", "digest_schedule"):
        await uow.db[name].delete_one({"_id": user_id}, session=uow.session)


async def preferences_of(db: Database, user_id: str, session: Any = None) -> Preferences:
    doc = await db.preferences.find_one({"_id": user_id}, session=session)
    return stored_preferences(doc) if doc else Preferences()


def stored_preferences(doc: Document) -> Preferences:
    return Preferences(**{k: doc[k] for k in Preferences.model_fields if k in doc})


def notification_out(doc: Document) -> NotificationOut:
    return NotificationOut(
        id=doc["_id"],
        type=doc["type"],
        title=doc["title"],
        body=doc["body"],
        data=doc["data"],
        created_at=doc["created_at"],
        read_at=doc.get("read_at"),
    )


async def add_notification(
    uow: UnitOfWork, user_id: str, kind: str, title: str, body: str, data: dict[str, Any]
) -> Document:
    """Appends to the user's feed with the next sequence number (the stream's event id)."""
    counter = await uow.db.sequences.find_one_and_update(
        {"_id": user_id},
        {"$inc": {"seq": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
        session=uow.session,
    )
    assert counter is not None
    doc = {
        "_id": str(uuid.uuid4()),
        "user_id": user_id,
        "seq": counter["seq"],
        "type": kind,
        "title": title,
        "body": body,
        "data": data,
        "created_at": utcnow(),
        "read_at": None,
    }
    uow.queue_insert(uow.db.notifications, doc)
    # Open live streams (in any notification_service process) learn of it from this event.
    uow.emit(
        NotificationCreated(notification_id=doc["_id"], seq=doc["seq"], kind=kind),
        user_id=user_id,
    )
    return doc


def queue_email(
    uow: UnitOfWork,
    user_id: str,
    to: str,
    subject: str,
    text: str,
    markup: str,
    source_event: str,
    *,
    queued: Callable[[], None],
) -> None:
    """An email to send, in the same transaction as what caused it. ``queued`` runs after the
    commit (the mailer's wake-up: mailer.EmailRelay sends it at once)."""
    uow.after_commit(queued)
    now = utcnow()
    uow.queue_insert(
        uow.db.emails,
        {
            "_id": source_event,
            "user_id": user_id,
            "to": to,
            "subject": subject,
            "text": text,
            "html": markup,
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "available_at": now,
        },
    )
