"""notification_service's HTTP API under ``/api/notifications``, including the live stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from pymongo import ReturnDocument
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from notification_service.digest import reschedule
from notification_service.live import LiveStreams
from notification_service.models import (
    DeliveryAttempt,
    NotificationOut,
    NotificationPage,
    Preferences,
    PreferencesIn,
    PreferencesPatch,
    ReadAll,
    TestDelivery,
    UnreadCount,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
)
from notification_service.settings import Settings
from notification_service.storage import notification_out, preferences_of, stored_preferences
from notification_service.webhooks import (
    PING_INTERVAL,
    TEST_EVENT,
    UnsafeTargetError,
    WebhookSender,
    check_url,
    delivery_body,
    delivery_id,
    new_secret,
    resolve_checked,
)
from shared.auth import CurrentUser, authenticate_in, bearer_token
from shared.errors import (
    ConflictError,
    InvalidError,
    NotFoundError,
    RateLimitedError,
    UnauthenticatedError,
)
from shared.events import EventType
from shared.ids import uuid_or_no_route
from shared.mongo import Document, utcnow
from shared.problems import domain_problem
from shared.service import Runtime, ServiceRuntime
from shared.streaming import StreamingResponse
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
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    user: CurrentUser,
    runtime: Runtime,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Each notification is an event `notification` whose id is its place in your feed.
    Reconnecting with `Last-Event-ID` replays what came after it; without one, the stream
    starts with what arrives next. A comment line whenever 15 s pass without one keeps idle
    connections open."""
    # What /docs shows; StreamLane answers a GET of this path before the router sees it.
    return await live_stream(runtime, request.app.state.live_streams, user.user_id, last_event_id)


STREAM_PATH = router.url_path_for("stream")  # the route's own path: the two cannot drift apart
STREAM_ROUTE = Route(STREAM_PATH, lambda request: None, methods=["GET"])


class StreamLane:
    """``GET /api/notifications/stream`` served straight from the innermost middleware, as the
    gateway's ProxyLane serves ``/api/*``: FastAPI's router, its dependency exit stacks and
    Starlette's exception middleware held about 10 KiB for every open stream, and a process
    holds one stream for every open browser tab. The same rule authenticates it
    (shared.auth.authenticate) and a refusal is the same problem; request ids, metrics and the
    500 problem still wrap it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != STREAM_PATH:
            await self.app(scope, receive, send)
            return
        scope["route"] = STREAM_ROUTE  # the metrics label, as the router would have set it
        state = scope["app"].state
        headers = Headers(scope=scope)
        response: Response
        try:
            user = await authenticate_in(state, bearer_token(headers.get("authorization")))
        except UnauthenticatedError as exc:
            response = domain_problem(exc)
        else:
            response = await live_stream(
                state.runtime, state.live_streams, user.user_id, headers.get("last-event-id")
            )
        await response(scope, receive, send)


async def live_stream(
    runtime: ServiceRuntime, live: LiveStreams, user_id: str, last_event_id: str | None
) -> StreamingResponse:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    notifications = runtime.db.notifications
    if last_event_id is not None and last_event_id.isdigit():
        after = int(last_event_id)
    else:
        newest = await notifications.find_one({"user_id": user_id}, sort=[("seq", -1)])
        after = newest["seq"] if newest else 0

    async def events() -> AsyncIterator[bytes]:
        nonlocal after
        loop = asyncio.get_running_loop()
        ping_at: float | None = None  # when the next heartbeat is due; None: from the next read
        with live.watch(user_id) as woken:
            while not live.closing:
                woken.clear()  # before reading: a wake during the read is not lost
                noted = live.wakes

                async def read_feed(after: int = after) -> list[Document]:
                    cursor = (
                        notifications.find({"user_id": user_id, "seq": {"$gt": after}})
                        .sort("seq", 1)
                        .limit(100)
                    )
                    return [doc async for doc in cursor]

                docs = await live.read_after(user_id, after, noted, read_feed)
                for doc in docs:
                    after = doc["seq"]
                    yield sse_event(doc)
                if docs or ping_at is None:
                    # Counted from the end of a read, not from the bytes: streams that shared
                    # one read (a user's tabs) then ping and re-read together, and share the
                    # next read too (a quarter less CPU with 1,000 tabs open). A wake that
                    # brought nothing new does not put the heartbeat off.
                    ping_at = loop.time() + settings.sse_heartbeat_seconds
                if len(docs) < 100:
                    # Pushed, not polled: notification.created wakes us (notification_service.live).
                    # After a heartbeat with none, a re-read too, for a push lost while the broker
                    # was away (the feed is the truth; the event only says "look now").
                    try:
                        async with asyncio.timeout_at(ping_at):
                            await woken.wait()
                    except TimeoutError:
                        yield HEARTBEAT
                        ping_at = None

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


HEARTBEAT = b": ping\r\n\r\n"


def sse_event(doc: Document) -> bytes:
    """One notification as a Server-Sent Event (its JSON has no line breaks to split)."""
    data = notification_out(doc).model_dump_json().encode()
    return b"event: notification\r\nid: %d\r\ndata: %s\r\n\r\n" % (doc["seq"], data)


async def _notification_id(
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


# -- webhooks ------------------------------------------------------------------------------------

webhooks = APIRouter(prefix="/api/webhooks", tags=["webhooks"])
MAX_WEBHOOKS = 10


async def _webhook_id(
    webhook_id: Annotated[str, Path(description="a UUID")], request: Request
) -> str:
    return uuid_or_no_route(webhook_id, request)


WebhookId = Annotated[str, Depends(_webhook_id)]


def _development(runtime: ServiceRuntime) -> bool:
    return runtime.settings.environment == "development"


def webhook_out(doc: Document) -> WebhookOut:
    return WebhookOut(
        id=doc["_id"],
        url=doc["url"],
        events=doc["events"],
        description=doc["description"],
        enabled=doc["enabled"],
        disabled_reason=doc.get("disabled_reason"),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        version=doc["version"],
    )


async def _target_is_safe(url: str, development: bool) -> None:
    """Checked when written (and again at every delivery, against DNS rebinding)."""
    check_url(url, development=development)
    try:
        await resolve_checked(url, development=development)
    except UnsafeTargetError as exc:
        raise InvalidError(f"url: {exc}") from None


async def _subscribe(runtime: ServiceRuntime, events: Iterable[str]) -> None:
    """Before the webhook is stored: the service's queue takes these events from now on (bound
    for good, so a webhook deleted later leaves them bound). One already bound costs nothing."""
    await runtime.bus.bind(runtime.settings.queue_name, [EventType(kind) for kind in events])


async def _owned_webhook(runtime: ServiceRuntime, user_id: str, webhook_id: str) -> Document:
    doc = await runtime.db.webhooks.find_one({"_id": webhook_id, "user_id": user_id})
    if doc is None:
        raise NotFoundError(f"no webhook {webhook_id}")
    return doc


@webhooks.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    summary="Send chosen events to your URL, signed (Standard Webhooks)",
)
async def create_webhook(
    body: WebhookIn, user: CurrentUser, runtime: Runtime, response: Response
) -> WebhookCreated:
    """Each delivery is a POST of `{type, timestamp, data}` (data: the event's) with the
    headers `webhook-id` (the same on retries), `webhook-timestamp` and `webhook-signature`
    (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` with the secret's key). The secret is
    in this answer only. https is required outside development; addresses that are not public
    are refused."""
    await _target_is_safe(body.url, _development(runtime))
    if await runtime.db.webhooks.count_documents({"user_id": user.user_id}) >= MAX_WEBHOOKS:
        raise ConflictError(f"at most {MAX_WEBHOOKS} webhooks per account")
    now = utcnow()
    doc = {
        "_id": str(uuid.uuid4()),
        "user_id": user.user_id,
        "url": body.url,
        "events": body.events,
        "description": body.description,
        "secret": new_secret(),
        "enabled": True,
        "failures": 0,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    await _subscribe(runtime, body.events)
    await runtime.db.webhooks.insert_one(doc)
    response.headers["Location"] = f"/api/webhooks/{doc['_id']}"
    return WebhookCreated(**webhook_out(doc).model_dump(), secret=doc["secret"])


@webhooks.get("", response_model=list[WebhookOut], summary="Your webhooks")
async def list_webhooks(user: CurrentUser, runtime: Runtime) -> list[WebhookOut]:
    cursor = runtime.db.webhooks.find({"user_id": user.user_id}).sort("created_at", 1)
    return [webhook_out(doc) async for doc in cursor]


@webhooks.get("/{webhook_id}", response_model=WebhookOut)
async def read_webhook(webhook_id: WebhookId, user: CurrentUser, runtime: Runtime) -> WebhookOut:
    return webhook_out(await _owned_webhook(runtime, user.user_id, webhook_id))


@webhooks.patch(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="Change the URL, events or description; enable",
)
async def patch_webhook(
    webhook_id: WebhookId, body: WebhookPatch, user: CurrentUser, runtime: Runtime
) -> WebhookOut:
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if len(changes) != len(body.model_fields_set):
        raise InvalidError("fields cannot be null")
    if "url" in changes:
        await _target_is_safe(changes["url"], _development(runtime))
    update: dict[str, Any] = {"$set": {**changes, "updated_at": utcnow()}, "$inc": {"version": 1}}
    if changes.get("enabled"):
        update["$set"] |= {"failures": 0, "disabled_reason": None}
    if "events" in changes:
        await _subscribe(runtime, changes["events"])
    doc = await runtime.db.webhooks.find_one_and_update(
        {"_id": webhook_id, "user_id": user.user_id}, update, return_document=ReturnDocument.AFTER
    )
    if doc is None:
        raise NotFoundError(f"no webhook {webhook_id}")
    return webhook_out(doc)


@webhooks.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(webhook_id: WebhookId, user: CurrentUser, runtime: Runtime) -> None:
    """Deliveries still queued for it are dropped."""
    deleted = await runtime.db.webhooks.delete_one({"_id": webhook_id, "user_id": user.user_id})
    if deleted.deleted_count != 1:
        raise NotFoundError(f"no webhook {webhook_id}")


@webhooks.get(
    "/{webhook_id}/deliveries",
    response_model=list[DeliveryAttempt],
    summary="Recent delivery attempts, newest first, with status and timing",
)
async def webhook_deliveries(
    webhook_id: WebhookId,
    user: CurrentUser,
    runtime: Runtime,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeliveryAttempt]:
    await _owned_webhook(runtime, user.user_id, webhook_id)
    cursor = (
        runtime.db.webhook_attempts.find({"webhook_id": webhook_id}).sort("at", -1).limit(limit)
    )
    return [
        DeliveryAttempt(**{k: doc[k] for k in DeliveryAttempt.model_fields}) async for doc in cursor
    ]


@webhooks.post(
    "/{webhook_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TestDelivery,
    summary="Send a signed ping (type webhook.test) now",
)
async def test_webhook(
    webhook_id: WebhookId, user: CurrentUser, runtime: Runtime, request: Request
) -> TestDelivery:
    """Its attempts show in `/deliveries` like any other; sent even while the webhook is
    disabled, to check a fixed receiver before enabling it again."""
    await _owned_webhook(runtime, user.user_id, webhook_id)
    sender: WebhookSender = request.app.state.webhook_sender
    ping = str(uuid.uuid4())
    now = utcnow()
    recent = await runtime.db.webhook_deliveries.find_one(
        {
            "webhook_id": webhook_id,
            "event_type": TEST_EVENT,
            "created_at": {"$gt": now - PING_INTERVAL},
        },
        {"_id": 1},
    )
    if recent is not None:  # a ping is retried like any delivery: no flood on request
        raise RateLimitedError(
            f"one ping per {PING_INTERVAL.seconds} s per webhook",
            retry_after=str(PING_INTERVAL.seconds),
        )
    delivery = delivery_id(webhook_id, ping)
    await runtime.db.webhook_deliveries.insert_one(
        {
            "_id": delivery,
            "webhook_id": webhook_id,
            "user_id": user.user_id,
            "event_type": TEST_EVENT,
            "body": delivery_body(TEST_EVENT, now, {"message": "ping", "webhook_id": webhook_id}),
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "available_at": now,
        }
    )
    sender.wake()
    return TestDelivery(delivery_id=delivery)
