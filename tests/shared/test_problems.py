"""shared.problems.UnexpectedErrorMiddleware: an unexpected error is a problem 500; the database
out of reach is a 503 with Retry-After, told by a real server that stops answering."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect

from shared.problems import (
    DATABASE_RETRY_AFTER_SECONDS,
    PROBLEM_MEDIA_TYPE,
    UnexpectedErrorMiddleware,
)
from tests.support import secantusdb


def app_answering(work: Callable[[], Awaitable[object]]) -> FastAPI:
    app = FastAPI()

    @app.get("/work")
    async def run_work() -> dict[str, str]:
        await work()
        return {"done": "yes"}

    app.add_middleware(UnexpectedErrorMiddleware)
    return app


async def get(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get("/work")


async def test_an_unexpected_error_is_a_problem_500() -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    response = await get(app_answering(broken))
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["detail"] == "internal error"
    assert "retry-after" not in response.headers


async def test_a_lost_database_connection_is_a_503_to_retry() -> None:
    async def connection_lost() -> None:
        raise AutoReconnect("127.0.0.1:27017: connection closed")

    response = await get(app_answering(connection_lost))
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert "database" in response.json()["detail"]


@pytest.mark.integration
async def test_a_database_that_stops_answering_is_a_503_not_a_500(tmp_path: Path) -> None:
    with secantusdb(tmp_path) as url:
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            url, serverSelectionTimeoutMS=1000
        )

        async def read() -> object:
            return await client.probe.things.find_one({})

        app = app_answering(read)
        assert (await get(app)).status_code == 200
    # The server is stopped (the block's end): the client's pooled connection is dead, and no
    # server can be selected.
    try:
        response = await get(app)
    finally:
        await client.close()
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["retry-after"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert response.json()["detail"] == (
        "the database cannot be reached right now; try again shortly"
    )
