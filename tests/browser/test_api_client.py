"""The web app's API client (web/src/lib/api.ts) uses only paths and methods the gateway's
/openapi.json documents: a renamed route fails here, not in a person's browser."""

from __future__ import annotations

import re

import httpx

from tests.browser.conftest import WebStack
from tests.support import ROOT

CALL = re.compile(r'"(GET|POST|PUT|PATCH|DELETE)",\s*`?"?(/api/[^"`?]+)')


def client_calls() -> set[tuple[str, str]]:
    source = (ROOT / "web" / "src" / "lib" / "api.ts").read_text()
    calls = set()
    for method, path in CALL.findall(source):
        # `/api/expenses/${encodeURIComponent(id)}` → /api/expenses/{}
        calls.add((method.lower(), re.sub(r"\$\{[^}]+\}", "{}", path)))
    return calls


def test_the_client_is_read() -> None:
    calls = client_calls()
    assert ("post", "/api/expenses") in calls
    assert ("delete", "/api/expenses/{}") in calls
    assert len(calls) >= 25


async def test_every_client_call_is_in_the_openapi_document(web: WebStack) -> None:
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        document = (await http.get("/openapi.json")).json()
    documented = {
        (method, re.sub(r"\{[^}]+\}", "{}", path))
        for path, item in document["paths"].items()
        for method in item
    }
    missing = sorted(client_calls() - documented)
    assert missing == [], f"the web client calls undocumented routes: {missing}"
