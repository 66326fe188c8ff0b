"""The gateway's path rule: what it routes is what the service receives, or it is refused."""

from __future__ import annotations

import pytest

from gateway.routing import AmbiguousPathError, routable_path


@pytest.mark.parametrize(
    "raw",
    [
        b"/api/budgets/../metrics",
        b"/api/budgets/%2e%2e/%2e%2e/metrics",
        b"/api/budgets/%2E./internal/reservations",
        b"/api/budgets/./status",
        b"/api/budgets/%2e",
        b"/api/expenses/a%2fb",
        b"/api/expenses/a%2Fb",
        b"/api/expenses/a%5cb",
        b"/api/expenses/%252e%252e",
        b"/api/expenses//x",
        b"/api/expenses/%01",
        b"/api/expenses/%00",
        b"/api/expenses/%1f",
        b"/api/expenses/%7f",
        b"/api/expenses/a\\b",
        b"/api/expenses/a b",
        b"/api/expenses/\xc3\xa9",
        b"/api/expenses/%ff",
        b"/api/expenses/%zz",
        b"api/expenses",
    ],
)
def test_ambiguous_spellings_are_refused(raw: bytes) -> None:
    with pytest.raises(AmbiguousPathError):
        routable_path(raw)


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b"/api/expenses", "/api/expenses"),
        (b"/api/expenses/", "/api/expenses/"),
        (b"/api/expenses/6740f0c2a1b2c3d4e5f60718", "/api/expenses/6740f0c2a1b2c3d4e5f60718"),
        (b"/api/categories/caf%C3%A9", "/api/categories/café"),
        (b"/api/expenses/..x", "/api/expenses/..x"),
        (b"/api/expenses/export.csv", "/api/expenses/export.csv"),
    ],
)
def test_plain_paths_decode_once(raw: bytes, path: str) -> None:
    assert routable_path(raw) == path
