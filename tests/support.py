"""Helpers shared by the tests: free ports, infrastructure, event capture, account set-up."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.message
import email.policy
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from aio_pika.abc import AbstractIncomingMessage
from pymongo import AsyncMongoClient, monitoring

from devstack.stack import DEFAULT_PORTS, SERVICES, Stack
from shared.mongo import Mongo
from shared.settings import DEFAULT_AMQP_URL

ROOT = Path(__file__).resolve().parent.parent
# What the gateway's /ready reports: its own dependencies, its revocations loaded, the services.
READINESS_CHECKS = {"mongodb", "rabbitmq", "revocations", *SERVICES}


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: each socket stays bound until all are chosen, or the
    kernel may hand the same port out twice (two services of one stack on one port: one
    fails to bind, and its requests reach the other)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_stack_ports() -> tuple[dict[str, int], int]:
    """A whole stack's ports, all distinct: each service's, and the database's."""
    ports = free_ports(1 + len(DEFAULT_PORTS))
    return dict(zip(DEFAULT_PORTS, ports[1:], strict=True)), ports[0]


TESTCONTAINER_IMAGES = ("mongo:8.0", "rabbitmq:3.13-management")
# deploy/offline-images.sh labels the images it builds under official names with this: they run
# the compose stack, but are not what testcontainers expects (SecantusDB is no mongod).
STAND_IN_LABEL = "org.expense-tracker.stand-in"


def docker_available() -> bool:
    """Whether to take MongoDB and RabbitMQ from testcontainers: only where a Docker engine
    answers *and* the real images are here or can be pulled (no registry is reachable on some
    machines with an engine, and local stand-ins under the same names do not count).
    ``TEST_INFRA=local`` or ``=docker`` decides instead."""
    choice = os.environ.get("TEST_INFRA", "auto")
    if choice in {"local", "docker"}:
        return choice == "docker"
    if shutil.which("docker") is None:
        return False
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return False
    return all(_image_at_hand(image) for image in TESTCONTAINER_IMAGES)


def _image_at_hand(image: str) -> bool:
    """The real image is present, or a pull brings it; a labelled stand-in is not it."""
    inspect = ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", image]
    present = subprocess.run(inspect, capture_output=True, text=True, check=False)
    if present.returncode == 0:
        return STAND_IN_LABEL not in (json.loads(present.stdout or "null") or {})
    try:
        pull = ["docker", "pull", "--quiet", image]
        return subprocess.run(pull, capture_output=True, check=False, timeout=120).returncode == 0
    except subprocess.TimeoutExpired:
        return False


async def eventually(
    check: Any, timeout: float = 5.0, interval: float = 0.05, what: str | None = None
) -> Any:
    """Polls an async ``check`` until it returns something truthy, and returns that; fails the
    test, naming what it waited for, if that does not happen within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not within {timeout}s: {what or getattr(check, '__name__', repr(check))}"
            )
        await asyncio.sleep(interval)


class Commands(monitoring.CommandListener):
    """The names of the commands a client sent, in order (round trips, counted)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def watched_mongo(mongo_url: str) -> tuple[Mongo, Commands]:
    """A service's Mongo on a database of its own, every command its client sends recorded."""
    commands = Commands()
    mongo = Mongo(mongo_url, f"test_{uuid.uuid4().hex[:8]}")
    await mongo.close()
    mongo.client = AsyncMongoClient(mongo_url, tz_aware=True, event_listeners=[commands])
    mongo.db = mongo.client[mongo.db.name]
    return mongo, commands


# -- infrastructure -------------------------------------------------------------------------------


@contextlib.contextmanager
def secantusdb(storage: Path) -> Iterator[str]:
    """A SecantusDB server process, started by the launcher exactly as `make run` starts it."""
    stack = Stack(data_dir=storage, mongo_port=free_port())
    try:
        yield stack.start_mongo()
    finally:
        stack.stop()


@contextlib.contextmanager
def mongo_container() -> Iterator[str]:
    """Real MongoDB as a single-node replica set (transactions need one)."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    container = DockerContainer("mongo:8.0").with_command("--replSet rs0 --bind_ip_all")
    container.with_exposed_ports(27017)
    with container:
        wait_for_logs(container, "Waiting for connections", timeout=60)
        container.exec(
            [
                "mongosh",
                "--quiet",
                "--eval",
                "rs.initiate({_id:'rs0',members:[{_id:0,host:'localhost:27017'}]})",
            ]
        )
        host = container.get_container_host_ip()
        port = container.get_exposed_port(27017)
        yield f"mongodb://{host}:{port}/?directConnection=true"


@contextlib.contextmanager
def rabbitmq_container() -> Iterator[str]:
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13-management") as rabbit:
        host = rabbit.get_container_host_ip()
        port = rabbit.get_exposed_port(5672)
        yield f"amqp://guest:guest@{host}:{port}/"


def local_rabbitmq() -> str:
    """The local broker (started by the launcher's own rule if installed and stopped)."""
    url = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
    Stack(amqp_url=url).ensure_rabbitmq()
    return url


@dataclass(frozen=True)
class BrokerNames:
    """A test run's own exchange and queue prefix, so runs never share queues."""

    exchange: str
    queue_prefix: str

    @classmethod
    def fresh(cls) -> BrokerNames:
        tag = uuid.uuid4().hex[:8]
        return cls(exchange=f"test-{tag}.events", queue_prefix=f"test-{tag}.")


async def delete_queues(amqp_url: str, queues: list[str]) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for queue in queues:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(queue)


async def delete_broker_names(amqp_url: str, names: BrokerNames, queues: list[str]) -> None:
    """The queues, then the run's exchanges."""
    await delete_queues(amqp_url, queues)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for exchange in (names.exchange, f"{names.exchange}.dlx"):
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.exchange_delete(exchange)


async def delete_stack_broker_names(amqp_url: str, names: BrokerNames) -> None:
    """Removes the queues and exchanges a whole stack declared under ``names``."""
    queues = [f"{names.queue_prefix}{service}.events" for service in (*SERVICES, "gateway")]
    await delete_broker_names(amqp_url, names, queues + [f"{queue}.dlq" for queue in queues])


@contextlib.asynccontextmanager
async def running_stack(
    data_dir: Path,
    amqp_url: str,
    *,
    mongodb_url: str | None,
    env: dict[str, str],
    service_env: dict[str, dict[str, str]],
) -> AsyncIterator[tuple[Stack, BrokerNames]]:
    """The whole stack as processes, started as `make run` starts it, on free ports and with
    its own broker names; ``mongodb_url`` None: the launcher's own SecantusDB. Stopped, and its
    queues and exchanges removed, afterwards."""
    names = BrokerNames.fresh()
    ports, mongo_port = free_stack_ports()
    stack = Stack(
        data_dir=data_dir,
        ports=ports,
        mongo_port=mongo_port,
        mongodb_url=mongodb_url,
        amqp_url=amqp_url,
        env={"EVENTS_EXCHANGE": names.exchange, "QUEUE_PREFIX": names.queue_prefix, **env},
        service_env=service_env,
        # A process the tests kill mid-transaction holds its documents until the transaction
        # is reaped: 10 s here instead of the server's minute.
        transaction_lifetime_seconds=10,
    )
    try:
        stack.start()
        stack.wait_until_ready(timeout=120)
        yield stack, names
    finally:
        stack.stop()
        await delete_stack_broker_names(amqp_url, names)


# -- events ---------------------------------------------------------------------------------------


@dataclass
class EventTap:
    """A private queue bound to some event types: what a new consumer would receive."""

    messages: list[AbstractIncomingMessage] = field(default_factory=list)

    def bodies(self, event_type: str | None = None) -> list[dict[str, Any]]:
        bodies = [json.loads(m.body) for m in self.messages]
        return [b for b in bodies if event_type is None or b["type"] == event_type]


async def outbox_states(mongodb_url: str, database: str, event_type: str) -> list[str]:
    """The states of a service's outbox entries of one type (a fact a crash test can wait on)."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    try:
        entries = client[database].outbox.find({"envelope.type": event_type}, {"state": 1})
        return [entry["state"] async for entry in entries]
    finally:
        await client.close()


async def before_marker(
    tap: EventTap, send_marker: Callable[[], Awaitable[Any]], is_marker: Callable[[Any], bool]
) -> list[dict[str, Any]]:
    """What the tap received before a marker event, once the marker has arrived.

    ``send_marker`` makes the same producer emit one more event, after the ones under test. A
    producer publishes in commit order, so when the marker is in, anything the events under
    test could have brought with them (a duplicate, a stray second event) is in too: absence
    is asserted on a fact, not after a pause."""
    await send_marker()

    async def marker_position() -> int | None:  # counted from 1, so never falsy once found
        for position, body in enumerate(tap.bodies(), start=1):
            if is_marker(body):
                return position
        return None

    end = await eventually(marker_position, timeout=15, what="the marker event")
    return tap.bodies()[: end - 1]


@contextlib.asynccontextmanager
async def event_tap(amqp_url: str, exchange: str, *routing_keys: str) -> AsyncIterator[EventTap]:
    connection = await aio_pika.connect(amqp_url)
    tap = EventTap()
    async with connection:
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in routing_keys:
            await queue.bind(ex, routing_key=key)

        async def collect(message: AbstractIncomingMessage) -> None:
            tap.messages.append(message)
            await message.ack()

        await queue.consume(collect)
        yield tap


# -- accounts -------------------------------------------------------------------------------------


def unique_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


@dataclass
class Account:
    email: str
    password: str
    user: dict[str, Any]
    tokens: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


async def register_and_login(
    client: httpx.AsyncClient, password: str = "correct horse 1", **profile: Any
) -> Account:
    email = unique_email()
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password, **profile}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return Account(email, password, registered.json(), login.json())


# -- email and live streams -----------------------------------------------------------------------


class SmtpServer:
    """A real SMTP server (aiosmtpd) on a fixed port, which can be stopped and started again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[email.message.EmailMessage] = []
        self._controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@dataclass
class SseListener:
    """Reads a Server-Sent Events stream in the background: events and comment lines."""

    events: list[dict[str, str]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status: int | None = None

    async def run(self, client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
        async with client.stream("GET", path, headers=headers, timeout=None) as response:
            self.status = response.status_code
            event: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    self.comments.append(line)
                elif not line:
                    if event:
                        self.events.append(event)
                    event = {}
                else:
                    name, _, value = line.partition(":")
                    event[name] = event.get(name, "") + value.lstrip(" ")


@contextlib.asynccontextmanager
async def listening(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> AsyncIterator[SseListener]:
    listener = SseListener()
    task = asyncio.create_task(listener.run(client, path, headers))
    try:
        # The first heartbeat comes after the stream has taken its starting point.
        await eventually(lambda: asyncio.sleep(0, bool(listener.comments)), what="a heartbeat")
        yield listener
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task
