"""bcrypt off the event loop: bounded concurrency, a bounded queue, even timing.

bcrypt at cost 12 takes about 0.25 s of one core, so a burst of logins cannot all be served
quickly: beyond ``queue_limit`` waiting (or after ``queue_seconds`` in the queue) a request is
refused at once with 503 and ``Retry-After`` instead of waiting into the gateway's timeout. A
request whose client has gone away while it waited is dropped before its hash starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import bcrypt

from shared.errors import DomainError, UnavailableError

BCRYPT_MAX_BYTES = 72  # bcrypt ignores anything past 72 bytes; longer passwords are refused
T = TypeVar("T")
StillWanted = Callable[[], Awaitable[bool]]


class ClientGoneError(DomainError):
    """The caller disconnected while waiting for a hashing slot; nothing was hashed. (Its
    answer goes nowhere; 499 is the status proxies log for it.)"""

    status = 499


class PasswordHasher:
    def __init__(
        self, rounds: int, concurrency: int, *, queue_limit: int, queue_seconds: float
    ) -> None:
        self._rounds = rounds
        self._slots = asyncio.Semaphore(concurrency)
        self._queue_limit = queue_limit
        self._queue_seconds = queue_seconds
        self._waiting = 0
        # Checked against when the email is unknown, so that answer takes as long as a real one.
        self._decoy = bcrypt.hashpw(b"decoy password", bcrypt.gensalt(rounds))

    async def hash(self, password: str, still_wanted: StillWanted | None = None) -> str:
        hashed = await self._run(
            still_wanted, bcrypt.hashpw, password.encode(), bcrypt.gensalt(self._rounds)
        )
        return hashed.decode()

    async def verify(
        self, password: str, hashed: str | None, still_wanted: StillWanted | None = None
    ) -> bool:
        given = password.encode()
        # No stored password is longer than bcrypt reads: such a guess is wrong, but it still
        # costs one hash, so the answer takes as long as any other.
        fits = len(given) <= BCRYPT_MAX_BYTES
        against = hashed.encode() if hashed and fits else self._decoy
        matches = await self._run(still_wanted, bcrypt.checkpw, given[:BCRYPT_MAX_BYTES], against)
        return matches and fits and hashed is not None

    async def _run(
        self, still_wanted: StillWanted | None, work: Callable[..., T], *args: object
    ) -> T:
        if self._waiting >= self._queue_limit:
            raise _busy()
        self._waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self._queue_seconds)
        except TimeoutError:
            raise _busy() from None
        finally:
            self._waiting -= 1
        try:
            if still_wanted is not None and not await still_wanted():
                raise ClientGoneError("the client went away before its password was checked")
            return await asyncio.to_thread(work, *args)
        finally:
            self._slots.release()


def _busy() -> UnavailableError:
    return UnavailableError("too many password checks at once; retry in a moment", retry_after=1)
