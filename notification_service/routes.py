"""notification_service's HTTP API under ``/api/notifications``, including the live stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status
from pymongo import ReturnDocument
from sse_starlette import EventSourceResponse, ServerSentEvent

from notification_service.digest import reschedule
from notification_service.live import LiveStreams
from notification_service.models import (
    NotificationOut,
    NotificationPage,
    Preferences,
    PreferencesIn,
    PreferencesPatch,
    ReadAll,
    UnreadCount,
)
from notification_service.settings import Settings
from notification_service.storage import notification_out, preferences_of, stored_preferences
from shared.auth import CurrentUser
from shared.ids import uuid_or_no_route
from shared.mongo import utcnow
from shared.service import Runtime, ServiceRuntime
from shared.uow import UnitOfWork
from shared.users import user_profile

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


def _not_found(notification_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no notification {notification_id}")


@router.get("", response_model=NotificationPage, summary="Your notifications, newest first")
async def list_notifications(
    user: CurrentUser,
    runtime: Runtime,
    unread: Annotated[bool | None, Query(description="true: only unread; false: only read")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> NotificationPage:
    query: dict[str, Any] = {"user_id": user.user_id}
    if unread is not None:
        query["read_at"] = None if unread else {"$ne": None}
    total = await runtime.db.notifications.count_documents(query)
    cursor = runtime.db.notifications.find(query).sort("seq", -1).skip(offset).limit(limit)
    return NotificationPage(
        items=[notification_out(doc) async for doc in cursor],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/unread-count", response_model=UnreadCount)
async def unread_count(user: CurrentUser, runtime: Runtime) -> UnreadCount:
    count = await runtime.db.notifications.count_documents(
        {"user_id": user.user_id, "read_at": None}
    )
    return UnreadCount(count=count)


@router.post("/read-all", response_model=ReadAll, summary="Mark every notification read")
async def read_all(user: CurrentUser, runtime: Runtime) -> ReadAll:
    result = await runtime.db.notifications.update_many(
        {"user_id": user.user_id, "read_at": None}, {"$set": {"read_at": utcnow()}}
    )
    return ReadAll(updated=result.modified_count)


@router.get("/preferences", response_model=Preferences)
async def read_preferences(user: CurrentUser, runtime: Runtime) -> Preferences:
    return await preferences_of(runtime.db, user.user_id)


@router.put(
    "/preferences",
    response_model=Preferences,
    summary="Where alerts reach you (feed and live stream, email) and the weekly digest",
)
async def write_preferences(
    body: PreferencesIn, user: CurrentUser, runtime: Runtime
) -> Preferences:
    """Replaces every setting (all required); to change some, PATCH. The weekly digest comes
    on `digest_weekday` at `digest_hour` in your time zone, covering the 7 days before."""
    return await _save_preferences(runtime, user.user_id, body.model_dump(), replace=True)


@router.patch("/preferences", response_model=Preferences, summary="Change some preferences")
async def patch_preferences(
    body: PreferencesPatch, user: CurrentUser, runtime: Runtime
) -> Preferences:
    """Only the fields sent change; the others keep their value."""
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if len(changes) != len(body.model_fields_set):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "preferences cannot be null")
    return await _save_preferences(runtime, user.user_id, changes, replace=False)


async def _save_preferences(
    runtime: ServiceRuntime, user_id: str, fields: dict[str, Any], *, replace: bool
) -> Preferences:
    async def write(uow: UnitOfWork) -> Preferences:
        update = {**fields, "updated_at": utcnow()}
        if replace:
            await uow.db.preferences.replace_one(
                {"_id": user_id}, update, upsert=True, session=uow.session
            )
            saved = Preferences(**fields)
        else:
            doc = await uow.db.preferences.find_one_and_update(
                {"_id": user_id},
                {"$set": update},
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=uow.session,
            )
            assert doc is not None  # upserted
            saved = stored_preferences(doc)
        profile = await user_profile(uow.db, user_id)
        if profile is not None:  # else placed when user.registered arrives
            await reschedule(uow, user_id, profile["timezone"], saved)
        return saved

    return await runtime.transactions.run(write)


@router.get(
    "/stream",
    summary="Live notifications (Server-Sent Events)",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    user: CurrentUser,
    runtime: Runtime,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    """Each notification is an event `notification` whose id is its place in your feed.
    Reconnecting with `Last-Event-ID` replays what came after it; without one, the stream
    starts with what arrives next. Comment lines every 15 s keep idle connections open."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    notifications = runtime.db.notifications
    if last_event_id is not None and last_event_id.isdigit():
        after = int(last_event_id)
    else:
        newest = await notifications.find_one({"user_id": user.user_id}, sort=[("seq", -1)])
        after = newest["seq"] if newest else 0

    live: LiveStreams = request.app.state.live_streams

    async def events() -> AsyncIterator[ServerSentEvent]:
        nonlocal after
        with live.watch(user.user_id) as woken:
            while True:
                woken.clear()  # before reading: a wake during the read is not lost
                cursor = (
                    notifications.find({"user_id": user.user_id, "seq": {"$gt": after}})
                    .sort("seq", 1)
                    .limit(100)
                )
                read = 0
                async for doc in cursor:
                    read += 1
                    after = doc["seq"]
                    yield ServerSentEvent(
                        data=notification_out(doc).model_dump_json(),
                        event="notification",
                        id=str(doc["seq"]),
                    )
                if read < 100:
                    # Pushed, not polled: notification.created wakes us (notification_service.live).
                    # A slow re-read too, once a heartbeat, for a push lost while the broker was
                    # away (the feed is the truth; the event only says "look now").
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), settings.sse_heartbeat_seconds)

    return EventSourceResponse(
        events(),
        ping=int(settings.sse_heartbeat_seconds),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _notification_id(
    notification_id: Annotated[str, Path(description="a UUID")], request: Request
) -> str:
    return uuid_or_no_route(notification_id, request)


NotificationId = Annotated[str, Depends(_notification_id)]


@router.post("/{notification_id}/read", response_model=NotificationOut)
async def mark_read(
    notification_id: NotificationId, user: CurrentUser, runtime: Runtime
) -> NotificationOut:
    doc = await runtime.db.notifications.find_one_and_update(
        {"_id": notification_id, "user_id": user.user_id},
        [{"$set": {"read_at": {"$ifNull": ["$read_at", utcnow()]}}}],
        return_document=True,
    )
    if doc is None:
        raise _not_found(notification_id)
    return notification_out(doc)


@router.delete("/{notification_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_notification(
    notification_id: NotificationId, user: CurrentUser, runtime: Runtime
) -> None:
    result = await runtime.db.notifications.delete_one(
        {"_id": notification_id, "user_id": user.user_id}
    )
    if result.deleted_count == 0:
        raise _not_found(notification_id)
