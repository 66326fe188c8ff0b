"""Pieces of the proxy that are pure logic."""

from __future__ import annotations

import pytest

from gateway.proxy import _account_of


@pytest.mark.parametrize(
    ("body", "content_type", "account"),
    [
        (b'{"email": " Ann@Example.com ", "password": "x"}', "application/json", "ann@example.com"),
        (
            b"username=Ann%40Example.com&password=x",
            "application/x-www-form-urlencoded",
            "ann@example.com",
        ),
        (b'{"email": {"$gt": ""}}', "application/json", None),
        (b"[1, 2]", "application/json", None),
        (b"{broken", "application/json", None),
        (b'{"email": "a@b.co"}', "text/plain", None),
    ],
)
def test_login_account_is_read_from_json_or_form(
    body: bytes, content_type: str, account: str | None
) -> None:
    assert _account_of(body, content_type) == account
