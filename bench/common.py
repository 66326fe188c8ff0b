"""A whole stack for a benchmark, started as ``make run`` starts it, on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from devstack.stack import Stack
from tests.support import (
    BrokerNames,
    delete_stack_broker_names,
    free_stack_ports,
    local_rabbitmq,
)


@contextlib.contextmanager
def bench_stack(env: dict[str, str] | None = None) -> Iterator[tuple[Stack, BrokerNames, str]]:
    amqp_url = local_rabbitmq()
    names = BrokerNames.fresh()
    ports, mongo_port = free_stack_ports()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        stack = Stack(
            data_dir=Path(tmp) / ".data",
            ports=ports,
            mongo_port=mongo_port,
            # A real MongoDB when MONGODB_URL names one; otherwise the launcher's SecantusDB.
            mongodb_url=os.environ.get("MONGODB_URL") or None,
            amqp_url=amqp_url,
            env={
                "EVENTS_EXCHANGE": names.exchange,
                "QUEUE_PREFIX": names.queue_prefix,
                "LOG_LEVEL": "WARNING",
                **(env or {}),
            },
        )
        try:
            stack.start()
            stack.wait_until_ready(timeout=120)
            yield stack, names, amqp_url
        finally:
            stack.stop()
            asyncio.run(delete_stack_broker_names(amqp_url, names))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def rss_mib(pid: int) -> float:
    return rss_kib(pid) / 1024


def rss_mb(pid: int) -> float:
    """Resident memory in MB (10^6 bytes), the unit of the design's target: 120 MB is 114.4 MiB."""
    return rss_kib(pid) * 1024 / 1e6
