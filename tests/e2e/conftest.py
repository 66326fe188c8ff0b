"""The whole stack as real processes, started the way ``make run`` starts it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from devstack.stack import Stack
from tests.conftest import USE_DOCKER
from tests.support import BrokerNames, SmtpServer, free_port, running_stack


@dataclass
class E2E:
    stack: Stack
    names: BrokerNames
    amqp_url: str
    smtp: SmtpServer

    @property
    def mongodb_url(self) -> str:
        assert self.stack.mongodb_url is not None
        return self.stack.mongodb_url


@pytest.fixture(scope="session")
async def e2e(
    tmp_path_factory: pytest.TempPathFactory, mongo_url: str, amqp_url: str
) -> AsyncIterator[E2E]:
    smtp = SmtpServer(free_port())
    smtp.start()
    try:
        async with running_stack(
            tmp_path_factory.mktemp("stack") / ".data",
            amqp_url,
            # Without Docker the launcher starts its own SecantusDB, as `make run` does.
            mongodb_url=mongo_url if USE_DOCKER else None,
            # Short, so that the slow-client tests take seconds (defaults: 10 and 15).
            env={"HTTP_HEADER_TIMEOUT": "2", "HTTP_BODY_IDLE_TIMEOUT": "2"},
            service_env={
                "notification_service": {
                    "SMTP_HOST": "127.0.0.1",
                    "SMTP_PORT": str(smtp.port),
                    "SMTP_STARTTLS": "false",
                    "EMAIL_RETRY_BASE_SECONDS": "0.2",
                    "EMAIL_RETRY_MAX_SECONDS": "1",
                    "SSE_HEARTBEAT_SECONDS": "1",
                    # Webhook retries and disabling within seconds (defaults: minutes, 5).
                    "WEBHOOK_RETRY_SECONDS": "[0.2, 0.4]",
                    "WEBHOOK_DISABLE_AFTER": "2",
                    "WEBHOOK_TIMEOUT_SECONDS": "2",
                }
            },
        ) as (stack, names):
            yield E2E(stack, names, amqp_url, smtp)
    finally:
        smtp.stop()


_source_addresses = itertools.count()


def next_source_address() -> str:
    """A loopback address of its own per client, so per-IP rate limits do not leak between tests."""
    n = next(_source_addresses)
    return f"127.0.{1 + n // 250}.{2 + n % 250}"


@pytest.fixture
async def client(e2e: E2E) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=next_source_address())
    async with httpx.AsyncClient(
        base_url=e2e.stack.gateway_url, transport=transport, timeout=15
    ) as http:
        yield http


@pytest.fixture
def stack(e2e: E2E) -> Stack:
    return e2e.stack
