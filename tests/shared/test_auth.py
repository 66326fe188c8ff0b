"""Token verification's cache (pure logic: a key lookup that counts, a clock the test moves)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import RejectedTokenError, TokenVerifier

ISSUER, AUDIENCE = "expense-tracker", "expense-tracker-api"


class Keys:
    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.lookups = 0

    async def __call__(self, kid: str) -> Any:
        self.lookups += 1
        if kid != "k1":
            raise RejectedTokenError("unknown signing key")
        return self.private.public_key()

    def token(self, exp: float, sub: str = "u1") -> str:
        claims = {
            "sub": sub,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(time.time()) - 10,
            "exp": int(exp),
            "typ": "access",
            "tv": 0,
        }
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": "k1"})


async def test_a_verified_token_is_remembered_until_it_expires() -> None:
    keys, now = Keys(), [time.time()]
    verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, clock=lambda: now[0])
    token = keys.token(exp=now[0] + 60)
    assert (await verifier.verify(token)).user_id == "u1"
    assert (await verifier.verify(token)).user_id == "u1"
    assert keys.lookups == 1  # the second time, no signature check at all

    now[0] += 61  # past its exp by this clock: not served from memory, checked again
    await verifier.verify(token)
    assert keys.lookups == 2


async def test_an_expired_token_is_refused_even_if_it_was_remembered() -> None:
    keys = Keys()
    verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(RejectedTokenError, match="expired"):
        await verifier.verify(keys.token(exp=time.time() - 1))


async def test_the_cache_is_bounded_and_forged_tokens_are_never_remembered() -> None:
    keys = Keys()
    verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, cache_size=2)
    tokens = [keys.token(exp=time.time() + 60, sub=f"u{n}") for n in range(3)]
    for token in tokens:
        await verifier.verify(token)
    await verifier.verify(tokens[0])  # evicted by the third: checked again
    assert keys.lookups == 4
    head, body, _ = tokens[1].split(".")
    for _ in range(2):
        with pytest.raises(RejectedTokenError):
            await verifier.verify(f"{head}.{body}.AAAA")
