"""The gateway's route table (pure logic)."""

from __future__ import annotations

import pytest
from pydantic import AnyHttpUrl

from gateway.routing import PUBLIC_PATHS, RouteTable, service_for


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/auth/login", "user_service"),
        ("/api/users/me", "user_service"),
        ("/api/expenses", "expense_service"),
        ("/api/expenses/export.csv", "expense_service"),
        ("/api/categories/abc", "expense_service"),
        ("/api/budget", "budget_service"),
        ("/api/budget/status", "budget_service"),
        ("/api/budgets/status", "budget_service"),
        ("/api/analytics/trends", "analytics_service"),
        ("/api/notifications/stream", "notification_service"),
        ("/api/budgetsx", None),
        ("/api/expensesfoo/1", None),
        ("/api/unknown", None),
    ],
)
def test_paths_go_to_their_service(path: str, service: str | None) -> None:
    assert service_for(path) == service


def test_only_the_auth_entry_points_are_public() -> None:
    assert "/api/auth/logout" not in PUBLIC_PATHS
    assert "/api/users/me" not in PUBLIC_PATHS
    assert {"/api/auth/login", "/api/auth/register"} <= PUBLIC_PATHS


def test_base_urls_rotate_and_every_instance_is_a_candidate() -> None:
    table = RouteTable(
        {
            "expense_service": [AnyHttpUrl("http://a:1/"), AnyHttpUrl("http://b:1")],
            "user_service": [],
        }
    )
    first = table.candidates("expense_service")
    second = table.candidates("expense_service")
    assert first == ["http://a:1", "http://b:1"]
    assert second == ["http://b:1", "http://a:1"]
    assert table.candidates("user_service") == []
    assert table.candidates("nope") == []
