"""bcrypt hashing off the event loop, with bounded concurrency and even timing for unknown users."""

from __future__ import annotations

import asyncio

import bcrypt


class PasswordHasher:
    def __init__(self, rounds: int, concurrency: int) -> None:
        self._rounds = rounds
        self._slots = asyncio.Semaphore(concurrency)
        # Checked against when the email is unknown, so that answer takes as long as a real one.
        self._decoy = bcrypt.hashpw(b"decoy password", bcrypt.gensalt(rounds))

    async def hash(self, password: str) -> str:
        async with self._slots:
            hashed = await asyncio.to_thread(
                bcrypt.hashpw, password.encode(), bcrypt.gensalt(self._rounds)
            )
        return hashed.decode()

    async def verify(self, password: str, hashed: str | None) -> bool:
        async with self._slots:
            matches = await asyncio.to_thread(
                bcrypt.checkpw, password.encode(), hashed.encode() if hashed else self._decoy
            )
        return matches and hashed is not None
