"""Sending queued emails over SMTP (aiosmtplib), retried with backoff until the server takes them.

The queue is the ``emails`` collection, written in the same transaction as the notification, so
an email is never lost and a failing SMTP server never holds back the in-app notification. A
send is claimed with a lease first, so two notification_service processes do not both send it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
from pymongo import ASCENDING, ReturnDocument

from notification_service.settings import Settings
from shared.mongo import Database, Document

log = logging.getLogger(__name__)

SEND_LEASE = timedelta(seconds=60)
# Emails queued by this process wake the relay at their commit; the sweep finds retries that
# fall due and emails another process queued and could not send (it died).
SWEEP_SECONDS = 30.0


class EmailRelay:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, db: Database) -> None:
        while True:
            self._wake.clear()
            try:
                while await self.send_next(db):
                    pass
                wait = await self._seconds_to_next_due(db)
            except Exception:
                log.exception("email relay failed; retrying")
                wait = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _seconds_to_next_due(self, db: Database) -> float:
        due = await db.emails.find_one(
            {"state": "pending"}, {"available_at": 1}, sort=[("available_at", ASCENDING)]
        )
        if due is None:
            return SWEEP_SECONDS
        seconds: float = (due["available_at"] - datetime.now(UTC)).total_seconds()
        return min(SWEEP_SECONDS, max(0.0, seconds))

    async def send_next(self, db: Database) -> bool:
        """Claims and sends one due email; returns whether there was one."""
        now = datetime.now(UTC)
        email = await db.emails.find_one_and_update(
            {"state": "pending", "available_at": {"$lte": now}},
            {"$set": {"available_at": now + SEND_LEASE}, "$inc": {"attempts": 1}},
            sort=[("available_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        if email is None:
            return False
        try:
            await self._send(email)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            delay = min(
                self._settings.email_retry_max_seconds,
                self._settings.email_retry_base_seconds * 2 ** (email["attempts"] - 1),
            )
            log.warning(
                "email %s to %s failed (attempt %d), retrying in %.1fs: %r",
                email["_id"],
                email["to"],
                email["attempts"],
                delay,
                exc,
            )
            await db.emails.update_one(
                {"_id": email["_id"]},
                {
                    "$set": {
                        "available_at": datetime.now(UTC) + timedelta(seconds=delay),
                        "last_error": repr(exc),
                    }
                },
            )
            return True
        await db.emails.update_one(
            {"_id": email["_id"]},
            {"$set": {"state": "sent", "sent_at": datetime.now(UTC)}, "$unset": {"last_error": ""}},
        )
        log.info("email %s sent to %s", email["_id"], email["to"])
        return True

    async def _send(self, email: Document) -> None:
        settings = self._settings
        message = EmailMessage()
        message["From"] = settings.smtp_from
        message["To"] = email["to"]
        message["Subject"] = email["subject"]
        message["Message-ID"] = f"<{email['_id']}@expense-tracker>"
        message.set_content(email["text"])
        message.add_alternative(email["html"], subtype="html")
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout,
        )
