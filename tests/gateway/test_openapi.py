"""Merging the services' OpenAPI documents (pure logic)."""

from __future__ import annotations

from typing import Any

from gateway.openapi import merge


def service_doc(path: str, item_schema: dict[str, Any]) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Item"}
    return {
        "paths": {
            path: {
                "get": {"responses": {"200": {"content": {"application/json": {"schema": ref}}}}}
            },
            "/health": {"get": {}},
        },
        "components": {
            "schemas": {"Item": item_schema},
            "securitySchemes": {"OAuth2PasswordBearer": {"type": "oauth2"}},
        },
    }


def test_paths_are_merged_and_operations_routes_left_out() -> None:
    merged = merge(
        {
            "a": service_doc("/api/a", {"type": "object"}),
            "b": service_doc("/api/b", {"type": "object"}),
        }
    )
    assert list(merged["paths"]) == ["/api/a", "/api/b"]
    assert merged["components"]["schemas"] == {"Item": {"type": "object"}}
    assert "OAuth2PasswordBearer" in merged["components"]["securitySchemes"]


def test_clashing_schema_names_are_renamed_with_their_references() -> None:
    merged = merge(
        {
            "a": service_doc("/api/a", {"type": "object", "title": "A"}),
            "b": service_doc("/api/b", {"type": "object", "title": "B"}),
        }
    )
    schemas = merged["components"]["schemas"]
    assert schemas["Item"]["title"] == "A"
    assert schemas["b__Item"]["title"] == "B"
    b_ref = merged["paths"]["/api/b"]["get"]["responses"]["200"]["content"]["application/json"]
    assert b_ref["schema"] == {"$ref": "#/components/schemas/b__Item"}


def test_unreachable_services_are_named() -> None:
    merged = merge({"a": service_doc("/api/a", {}), "b": None})
    assert list(merged["paths"]) == ["/api/a"]
    assert "b" in merged["info"]["description"]
