"""A user's own integrations: webhooks signed the Standard Webhooks way.

Events reach webhooks as they reach notifications: notification_service's queue is bound to the
types a webhook may subscribe to, and its handler turns each event into one delivery per
subscribed webhook, in the event's transaction (so each event is queued once per webhook).
Deliveries are a leased queue (shared.leased) sent by ``WebhookSender``: many at once, each
with a short timeout, retried with backoff, so a slow or dead receiver holds one slot for a few
seconds and never delays other webhooks, emails, or the consumer. A delivery keeps its
``webhook-id`` across retries; a webhook whose deliveries keep failing is disabled, and its
owner told.

Outbound requests are checked against server-side request forgery: the host is resolved at
delivery time, every address it resolves to must be public (loopback is allowed in development
only, for a local receiver), and the request goes to the address that was checked (with the
original Host and TLS server name), so DNS cannot answer differently between check and connect.
https is required outside development; redirects are not followed; at most a few KB of the
answer are read.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from notification_service.storage import add_notification
from shared.errors import InvalidError
from shared.events import EventType
from shared.leased import LeasedQueue
from shared.mongo import Database, Document, utcnow
from shared.uow import Transactions, UnitOfWork

log = logging.getLogger(__name__)

# What a webhook may subscribe to.
WEBHOOK_EVENTS = (
    EventType.EXPENSE_CREATED,
    EventType.EXPENSE_UPDATED,
    EventType.EXPENSE_DELETED,
    EventType.EXPENSES_IMPORTED,
    EventType.BUDGET_UPSERTED,
    EventType.BUDGET_DELETED,
    EventType.BUDGET_THRESHOLD_REACHED,
)
# Only webhooks want these here (budget.threshold_reached is also a notification): the queue is
# bound to one once a webhook subscribes to it (shared.service.OnDemand).
WEBHOOK_ONLY_EVENTS = frozenset(WEBHOOK_EVENTS) - {EventType.BUDGET_THRESHOLD_REACHED}


async def subscribed_events(db: Database) -> set[EventType]:
    """The types some webhook subscribes to (enabled or not: enabling one binds nothing)."""
    return {EventType(kind) for kind in await db.webhooks.distinct("events")}


TEST_EVENT = "webhook.test"
DELIVERY_NAMESPACE = uuid.UUID("3e0c7a1f-6b2d-4c85-9f14-8a7d2b5e6c31")
RESPONSE_PEEK_BYTES = 4096
SEND_LEASE = timedelta(seconds=120)  # well past an attempt's time limit (at most 60 s)
SWEEP_SECONDS = 30.0
# Addresses that are never a receiver, on top of every non-global one: cloud metadata services.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# IPv6 ranges that carry an IPv4 address inside (NAT64, 6to4, IPv4-compatible, SIIT): they may
# reach private IPv4 space through a translator, whatever ``is_global`` says of them.
EMBEDDED_IPV4 = tuple(
    ipaddress.ip_network(n)
    for n in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "::/96", "::ffff:0:0:0/96")
)
PING_INTERVAL = timedelta(seconds=5)


class UnsafeTargetError(Exception):
    """A URL that may not be called (private address, wrong scheme, unresolvable)."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with the secret's decoded key."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def delivery_id(webhook_id: str, event_id: str) -> str:
    return "msg_" + uuid.uuid5(DELIVERY_NAMESPACE, f"{webhook_id}/{event_id}").hex


def delivery_body(event_type: str, occurred_at: datetime, data: dict[str, Any]) -> str:
    return json.dumps(
        {"type": event_type, "timestamp": occurred_at.isoformat(), "data": data},
        separators=(",", ":"),
        default=str,
    )


def check_url(url: str, *, development: bool) -> None:
    """The URL's form: http(s), a host, a port that exists, no credentials; https outside
    development."""
    try:
        parts = urlsplit(url)
        port = parts.port
        ascii_host(parts.hostname or "")
    except (ValueError, UnicodeError) as exc:
        raise InvalidError(f"url is not a valid URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidError("url must be an http(s) URL with a host")
    if port == 0:
        raise InvalidError("url: port 0 is not a port")
    if parts.scheme != "https" and not development:
        raise InvalidError("url must use https")
    if parts.username or parts.password:
        raise InvalidError("url must not carry credentials; the signature authenticates us")


def allowed_address(address: str, *, development: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in EMBEDDED_IPV4):
        return False
    if ip in METADATA_ADDRESSES:
        return False
    if ip.is_loopback:
        return development
    return ip.is_global and not ip.is_multicast


def ascii_host(host: str) -> str:
    """The host as it goes on the wire (IDNA for an internationalised name)."""
    return host.encode("idna").decode("ascii") if not host.isascii() else host


async def resolve_checked(url: str, *, development: bool) -> tuple[str, str, int]:
    """(scheme, checked address, port) to connect to for ``url``; raises UnsafeTargetError."""
    try:
        parts = urlsplit(url)
        host, scheme = ascii_host(parts.hostname or ""), parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
    except (ValueError, UnicodeError) as exc:
        raise UnsafeTargetError(f"not a valid URL: {exc}") from None
    if scheme != "https" and not development:
        raise UnsafeTargetError("https is required")
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTargetError(f"{host} does not resolve: {exc}") from None
    addresses = sorted({str(info[4][0]) for info in found})
    refused = [a for a in addresses if not allowed_address(a, development=development)]
    if not addresses or refused:
        raise UnsafeTargetError(
            f"{host} resolves to an address that may not be called ({', '.join(refused)})"
        )
    return scheme, addresses[0], port


@dataclass
class WebhookSettings:
    development: bool
    timeout_seconds: float
    retry_seconds: list[float]
    disable_after: int
    concurrency: int


async def queue_deliveries(
    uow: UnitOfWork,
    user_id: str,
    event_type: str,
    event_id: str,
    occurred_at: datetime,
    data: dict[str, Any],
    *,
    queued: Callable[[], None],
) -> int:
    """A delivery for each of the user's enabled webhooks subscribed to ``event_type``."""
    hooks = [
        doc
        async for doc in uow.db.webhooks.find(
            {"user_id": user_id, "enabled": True, "events": event_type},
            {"_id": 1},
            session=uow.session,
        )
    ]
    if not hooks:
        return 0
    ids = {hook["_id"]: delivery_id(hook["_id"], event_id) for hook in hooks}
    # A repeat of the event finds its deliveries queued already (their ids are the webhook's
    # and the event's): so this handler is replay-safe, and no processed-event record is kept.
    queued_before = {
        doc["_id"]
        async for doc in uow.db.webhook_deliveries.find(
            {"_id": {"$in": list(ids.values())}}, {"_id": 1}, session=uow.session
        )
    }
    hooks = [hook for hook in hooks if ids[hook["_id"]] not in queued_before]
    if not hooks:
        return 0
    body = delivery_body(event_type, occurred_at, data)
    now = utcnow()
    await uow.db.webhook_deliveries.insert_many(
        [
            {
                "_id": ids[hook["_id"]],
                "webhook_id": hook["_id"],
                "user_id": user_id,
                "event_type": event_type,
                "body": body,
                "state": "pending",
                "attempts": 0,
                "created_at": now,
                "available_at": now,
            }
            for hook in hooks
        ],
        session=uow.session,
    )
    uow.after_commit(queued)
    return len(hooks)


class WebhookSender:
    """Sends due deliveries, ``concurrency`` at a time; woken by the commit that queued them,
    otherwise asleep until the next retry falls due or the sweep."""

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, db: Database, transactions: Transactions) -> None:
        self.db = db
        self.transactions = transactions
        self.queue = LeasedQueue(db.webhook_deliveries, lease=SEND_LEASE)
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._sending: set[asyncio.Task[None]] = set()
        # No kept-alive connections: requests go to checked addresses, and a connection whose
        # certificate was checked for one host must not carry another host's delivery.
        async with httpx.AsyncClient(
            follow_redirects=False,
            timeout=self.settings.timeout_seconds,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as http:
            while True:
                self._wake.clear()
                try:
                    await self.send_due(http)
                    due_in = await self.queue.seconds_to_next()
                    wait = SWEEP_SECONDS if due_in is None else min(SWEEP_SECONDS, due_in)
                except Exception:
                    log.exception("webhook sender failed; retrying")
                    wait = 1.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def send_due(self, http: httpx.AsyncClient) -> None:
        """Claims due deliveries one free slot at a time and sends each in a task of its own,
        so a slow receiver holds one slot (for at most the timeout) while the others go on."""
        while True:
            await self._slots.acquire()
            try:
                token, claimed = await self.queue.claim_due(1)
            except BaseException:
                self._slots.release()
                raise
            if not claimed:
                self._slots.release()
                return
            task = asyncio.create_task(self._send_in_slot(http, token, claimed[0]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send_in_slot(self, http: httpx.AsyncClient, token: str, delivery: Document) -> None:
        try:
            await self.deliver(http, token, delivery)
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly; retried", delivery["_id"])
        finally:
            self._slots.release()
            self._wake.set()  # a slot is free: look for more

    async def deliver(self, http: httpx.AsyncClient, token: str, delivery: Document) -> None:
        hook = await self.db.webhooks.find_one({"_id": delivery["webhook_id"]})
        if hook is None or (not hook["enabled"] and delivery["event_type"] != TEST_EVENT):
            await self.queue.done(token, [delivery["_id"]])  # deleted or disabled since
            return
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):  # in all, not per read
                status, error = await self._send(http, hook, delivery)
        except TimeoutError:
            status, error = None, f"timed out after {self.settings.timeout_seconds:g} s"
        except Exception as exc:  # a URL the client cannot send, say: a failed attempt
            status, error = None, f"{type(exc).__name__}: {exc}"
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        await self.db.webhook_attempts.insert_one(
            {
                "_id": str(uuid.uuid4()),
                "webhook_id": hook["_id"],
                "user_id": hook["user_id"],
                "delivery_id": delivery["_id"],
                "event_type": delivery["event_type"],
                "attempt": delivery["attempts"],
                "at": utcnow(),
                "status_code": status,
                "error": error,
                "duration_ms": elapsed_ms,
            }
        )
        if error is None:
            await self.queue.done(token, [delivery["_id"]])
            await self.db.webhooks.update_one({"_id": hook["_id"]}, {"$set": {"failures": 0}})
            return
        retries = self.settings.retry_seconds
        if delivery["attempts"] <= len(retries):
            after = timedelta(seconds=retries[delivery["attempts"] - 1])
            await self.queue.retry(delivery["_id"], token, after, error)
            return
        await self.db.webhook_deliveries.update_one(
            {"_id": delivery["_id"], "claim": token},
            {"$set": {"state": "failed", "last_error": error}, "$unset": {"claim": ""}},
        )
        await self._failed(hook)

    async def _send(
        self, http: httpx.AsyncClient, hook: Document, delivery: Document
    ) -> tuple[int | None, str | None]:
        """(status, None) on a 2xx answer, else (status or None, why it failed)."""
        url = hook["url"]
        try:
            scheme, address, port = await resolve_checked(
                url, development=self.settings.development
            )
        except UnsafeTargetError as exc:
            return None, f"refused: {exc}"
        parts = urlsplit(url)
        host = ascii_host(parts.hostname or "")
        literal = f"[{address}]" if ":" in address else address
        target = urlunsplit((scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        timestamp = int(time.time())
        body = delivery["body"].encode()
        headers = {
            "content-type": "application/json",
            "user-agent": "ExpenseTracker-Webhooks/1",
            "host": host if parts.port is None else f"{host}:{parts.port}",
            "webhook-id": delivery["_id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(hook["secret"], delivery["_id"], timestamp, body),
        }
        extensions = {"sni_hostname": host} if scheme == "https" else {}
        try:
            request = http.build_request(
                "POST", target, content=body, headers=headers, extensions=extensions
            )
            response = await http.send(request, stream=True)
            try:
                peeked = 0
                async for chunk in response.aiter_raw():
                    peeked += len(chunk)
                    if peeked >= RESPONSE_PEEK_BYTES:
                        break  # enough: the status is what counts
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            return None, f"timed out after {self.settings.timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"answered {response.status_code}"

    async def _failed(self, hook: Document) -> None:
        """A delivery gave up: one more failure in a row; at the limit, the webhook is disabled
        and its owner told, in one transaction."""

        async def write(uow: UnitOfWork) -> None:
            updated = await uow.db.webhooks.find_one_and_update(
                {"_id": hook["_id"], "enabled": True},
                {"$inc": {"failures": 1}},
                session=uow.session,
                return_document=True,
            )
            if updated is None or updated["failures"] < self.settings.disable_after:
                return
            await uow.db.webhooks.update_one(
                {"_id": hook["_id"]},
                {
                    "$set": {
                        "enabled": False,
                        "disabled_reason": f"{updated['failures']} deliveries in a row failed",
                        "updated_at": utcnow(),
                    },
                    "$inc": {"version": 1},
                },
                session=uow.session,
            )
            await add_notification(
                uow,
                hook["user_id"],
                "webhook.disabled",
                "Webhook disabled",
                f"Your webhook to {hook['url']} was disabled after {updated['failures']} failed "
                "deliveries in a row. Fix the receiver, then enable it again.",
                {"webhook_id": hook["_id"], "url": hook["url"]},
            )

        await self.transactions.run(write)
