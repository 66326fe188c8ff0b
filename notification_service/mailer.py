"""Sending queued emails over SMTP (aiosmtplib), retried with backoff until the server takes them.

The queue is the ``emails`` collection, written in the same transaction as the notification, so
an email is never lost and a failing SMTP server never holds back the in-app notification. A
send is claimed with a lease first (shared.leased), so two notification_service processes do
not both send it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from email.message import EmailMessage

import aiosmtplib

from notification_service.settings import Settings
from shared.leased import LeasedQueue
from shared.mongo import Database, Document

log = logging.getLogger(__name__)

SEND_LEASE = timedelta(seconds=60)
# Emails queued by this process wake the relay at their commit; the sweep finds retries that
# fall due and emails another process queued and could not send (it died).
SWEEP_SECONDS = 30.0


class EmailRelay:
    """Sends the ``emails`` queue, a leased queue like the outbox (shared.leased): woken by the
    commit that queued an email, otherwise asleep until the next retry is due or the sweep."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, db: Database) -> None:
        queue = LeasedQueue(db.emails, lease=SEND_LEASE)
        while True:
            self._wake.clear()
            try:
                while await self.send_next(queue):
                    pass
                due_in = await queue.seconds_to_next()
                wait = SWEEP_SECONDS if due_in is None else min(SWEEP_SECONDS, due_in)
            except Exception:
                log.exception("email relay failed; retrying")
                wait = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def send_next(self, queue: LeasedQueue) -> bool:
        """Claims and sends one due email; returns whether there was one."""
        token, claimed = await queue.claim_due(1)
        if not claimed:
            return False
        [email] = claimed
        try:
            await self._send(email)
        except Exception as exc:  # SMTP, network, or a bad address: retried with backoff
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
            await queue.retry(email["_id"], token, timedelta(seconds=delay), repr(exc))
            return True
        await queue.done(token, [email["_id"]])
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
