"""Sending queued emails over SMTP (aiosmtplib), retried with backoff until the server takes them.

The queue is the ``emails`` collection, written in the same transaction as the notification, so
an email is never lost and a failing SMTP server never holds back the in-app notification. A
send is claimed with a lease first, so two notification_service processes do not both send it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
from pymongo import ASCENDING, ReturnDocument

from notification_service.settings import Settings
from shared.mongo import Database, Document

log = logging.getLogger(__name__)

SEND_LEASE = timedelta(seconds=60)
# Emails are queued inside other transactions, so the relay cannot be woken at their commit;
# an indexed look twice a second keeps the delay well under the alert's 2-second promise.
POLL_SECONDS = 0.5


class EmailRelay:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings

    async def run(self) -> None:
        while True:
            try:
                while await self.send_next():
                    pass
            except Exception:
                log.exception("email relay failed; retrying")
            await asyncio.sleep(POLL_SECONDS)

    async def send_next(self) -> bool:
        """Claims and sends one due email; returns whether there was one."""
        now = datetime.now(UTC)
        email = await self._db.emails.find_one_and_update(
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
            await self._db.emails.update_one(
                {"_id": email["_id"]},
                {
                    "$set": {
                        "available_at": datetime.now(UTC) + timedelta(seconds=delay),
                        "last_error": repr(exc),
                    }
                },
            )
            return True
        await self._db.emails.update_one(
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
