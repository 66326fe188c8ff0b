"""Reading error bodies the same way before and after the switch to RFC 9457 problem details.

Domain errors carry a readable ``detail`` string either way. Request validation failures carry
FastAPI's list of field errors in ``detail`` today and in ``errors`` (with ``detail`` a string)
once every service answers with problem details; tests accept both.
"""

from __future__ import annotations

from typing import Any

import httpx


def detail(response: httpx.Response) -> str:
    """The readable ``detail`` of a domain error."""
    value = response.json()["detail"]
    assert isinstance(value, str), f"detail should be a string: {response.text}"
    return value


def field_errors(response: httpx.Response) -> list[dict[str, Any]]:
    """FastAPI's validation list, wherever the body carries it."""
    body = response.json()
    errors = body.get("errors", body.get("detail"))
    assert isinstance(errors, list), f"no list of field errors in {response.text}"
    return errors


def error_text(response: httpx.Response) -> str:
    """Everything an error says, for checking that it names the problem."""
    body = response.json()
    parts = [str(body.get("detail", ""))]
    if isinstance(body.get("errors"), list) or isinstance(body.get("detail"), list):
        parts += [f"{e.get('loc')} {e.get('msg')}" for e in field_errors(response)]
    return " ".join(parts)
