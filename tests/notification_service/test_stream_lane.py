"""StreamLane: the live stream served before FastAPI's router refuses what ``CurrentUser`` does
(pure logic: a real verifier and revocation state, no database; an accepted token would go on
to read the feed, which needs the stack: tests/e2e/test_attacks.py covers that)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from notification_service.routes import STREAM_PATH, StreamLane
from shared.auth import TokenVerifier
from shared.revocations import ACCOUNT_GONE, TOKEN_REVOKED, Revocations
from tests.shared.test_auth import AUDIENCE, ISSUER, Keys


class Inner:
    """The rest of the app: records what reached it."""

    def __init__(self) -> None:
        self.paths: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append((scope["method"], scope["path"]))


async def call(
    lane: StreamLane, state: Any, method: str, path: str, headers: dict[str, str]
) -> tuple[Scope, list[Message]]:
    scope: Scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "app": SimpleNamespace(state=state),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await lane(scope, receive, send)
    return scope, sent


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def state(keys: Keys) -> SimpleNamespace:
    verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    return SimpleNamespace(token_verifier=verifier, revocations=Revocations())


def problem_of(sent: list[Message]) -> tuple[int, dict[bytes, bytes], bytes]:
    start, body = sent[0], sent[1]
    return start["status"], dict(start["headers"]), body["body"]


async def test_other_requests_pass_to_the_app(state: SimpleNamespace) -> None:
    inner = Inner()
    lane = StreamLane(inner)
    for method, path in [("GET", "/api/notifications"), ("HEAD", STREAM_PATH)]:
        _, sent = await call(lane, state, method, path, {})
        assert sent == []
    assert inner.paths == [("GET", "/api/notifications"), ("HEAD", STREAM_PATH)]


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "Not authenticated"),
        ("Basic dXNlcjpwYXNz", "Not authenticated"),
        ("Bearer ", "Not authenticated"),
        ("Bearer not.a.token", "malformed token"),
    ],
)
async def test_no_valid_token_is_the_same_401_problem(
    state: SimpleNamespace, authorization: str | None, detail: str
) -> None:
    inner = Inner()
    headers = {"Authorization": authorization} if authorization is not None else {}
    scope, sent = await call(StreamLane(inner), state, "GET", STREAM_PATH, headers)
    status, response_headers, body = problem_of(sent)
    assert status == 401
    assert response_headers[b"www-authenticate"] == b"Bearer"
    assert response_headers[b"content-type"] == b"application/problem+json"
    assert detail.encode() in body
    assert scope["route"].path == STREAM_PATH  # the metrics label, as the router sets it
    assert inner.paths == []


async def test_revoked_tokens_and_deleted_accounts_are_refused(
    state: SimpleNamespace, keys: Keys
) -> None:
    token = keys.token(exp=time.time() + 60, sub="u1")  # token version 0
    state.revocations.raise_version("u1", 1)  # a password change since
    _, sent = await call(
        StreamLane(Inner()), state, "GET", STREAM_PATH, {"Authorization": f"Bearer {token}"}
    )
    assert problem_of(sent)[0] == 401
    assert TOKEN_REVOKED.encode() in problem_of(sent)[2]

    state.revocations.delete_account("u1")
    _, sent = await call(
        StreamLane(Inner()), state, "GET", STREAM_PATH, {"Authorization": f"Bearer {token}"}
    )
    assert ACCOUNT_GONE.encode() in problem_of(sent)[2]
