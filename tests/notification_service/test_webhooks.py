"""Webhook signing and target checks (pure logic): signatures that an independent Standard
Webhooks implementation verifies, and the addresses a delivery may go to."""

from __future__ import annotations

import time

import pytest
from standardwebhooks import Webhook

from notification_service.webhooks import allowed_address, check_url, new_secret, signature
from shared.errors import InvalidError


def test_signatures_verify_with_the_standard_webhooks_library() -> None:
    secret = new_secret()
    body = b'{"type":"expense.created","timestamp":"2026-11-22T10:00:00+00:00","data":{}}'
    now = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": signature(secret, "msg_1", now, body),
    }
    assert Webhook(secret).verify(body, headers)["type"] == "expense.created"
    with pytest.raises(Exception, match="signature"):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(body.replace(b"created", b"deleted"), headers)


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.10",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fd00:ec2::254",
        "fe80::1",
        "::ffff:10.0.0.1",
        "224.0.0.1",
        "100.100.100.200",
    ],
)
def test_private_and_metadata_addresses_are_refused(address: str) -> None:
    assert not allowed_address(address, development=False)


def test_loopback_only_in_development_and_public_addresses_always() -> None:
    assert allowed_address("127.0.0.1", development=True)
    assert not allowed_address("127.0.0.1", development=False)
    assert allowed_address("93.184.216.34", development=False)
    assert allowed_address("2606:4700::1111", development=False)
    assert not allowed_address("169.254.169.254", development=True)


def test_https_outside_development() -> None:
    check_url("http://127.0.0.1:9000/h", development=True)
    check_url("https://hooks.example.com/h", development=False)
    with pytest.raises(InvalidError, match="https"):
        check_url("http://hooks.example.com/h", development=False)


@pytest.mark.parametrize(
    "url", ["https://example.com:99999/", "https://example.com:abc/", "http://[::1", "http://:80/"]
)
def test_malformed_urls_are_refused_not_crashed_on(url: str) -> None:
    with pytest.raises(InvalidError):
        check_url(url, development=True)
