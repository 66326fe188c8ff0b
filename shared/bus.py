"""The event bus: one small interface, and its RabbitMQ implementation on aio-pika.

Topology, declared by whoever needs it (idempotent, so every process can declare it):

- ``<events_exchange>``: durable topic exchange; the routing key is the event type.
- ``<service>.events``: one durable quorum queue per consuming service (its replicas compete
  for its messages), bound to the types it handles, with ``x-delivery-limit`` so a message
  that keeps failing stops being redelivered and is dead-lettered through
  ``<events_exchange>.dlx`` into ``<service>.events.dlq``.
- ``<service>.broadcast.<process id>``: an exclusive queue per process, for the few types every
  replica must see (token revocations).

Publishing uses publisher confirms and ``mandatory``: a message the broker cannot route to any
queue raises instead of vanishing, so the outbox keeps it and retries.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustExchange,
    AbstractRobustQueue,
)

from shared.events import EventEnvelope, EventType

log = logging.getLogger(__name__)

MessageCallback = Callable[[AbstractIncomingMessage], Awaitable[None]]
PUBLISH_TIMEOUT_SECONDS = 10.0


class EventBus(Protocol):
    async def publish(self, envelope: EventEnvelope, *, correlation_id: str | None) -> None: ...

    async def consume(
        self, queue: str, event_types: Iterable[EventType], callback: MessageCallback
    ) -> None: ...

    async def broadcast(
        self, queue: str, event_types: Iterable[EventType], callback: MessageCallback
    ) -> None: ...

    async def bind(self, queue: str, event_types: Iterable[EventType]) -> None: ...

    def is_connected(self) -> bool: ...


class RabbitEventBus:
    def __init__(
        self, url: str, exchange: str, *, client_name: str, prefetch: int, delivery_limit: int
    ) -> None:
        self._url = url
        self._exchange_name = exchange
        self._client_name = client_name
        self._prefetch = prefetch
        self._delivery_limit = delivery_limit
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._exchange: AbstractRobustExchange | None = None
        # The queues consumed here, with their exchange, for bindings added later (bind).
        self._consumed: dict[str, tuple[AbstractRobustQueue, AbstractRobustExchange]] = {}

    async def connect(self) -> None:
        # connect_robust reconnects after a broker restart and re-declares the channels, queues,
        # bindings and consumers made through it, so consumers resume by themselves.
        self._connection = await aio_pika.connect_robust(
            self._url, client_properties={"connection_name": self._client_name}
        )
        self._publish_channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._exchange = await self._declare_exchange(self._publish_channel)

    async def _declare_exchange(self, channel: AbstractRobustChannel) -> AbstractRobustExchange:
        return await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )

    def is_connected(self) -> bool:
        return (
            self._connection is not None
            and not self._connection.is_closed
            and (self._publish_channel is not None and not self._publish_channel.is_closed)
        )

    async def publish(self, envelope: EventEnvelope, *, correlation_id: str | None) -> None:
        if self._exchange is None:
            raise RuntimeError("event bus is not connected")
        message = aio_pika.Message(
            body=envelope.model_dump_json().encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope.id,
            type=envelope.type.value,
            app_id=envelope.producer,
            timestamp=envelope.occurred_at,
            correlation_id=correlation_id,
        )
        await self._exchange.publish(
            message,
            routing_key=envelope.type.routing_key,
            mandatory=True,
            timeout=PUBLISH_TIMEOUT_SECONDS,
        )

    async def consume(
        self, queue: str, event_types: Iterable[EventType], callback: MessageCallback
    ) -> None:
        if self._connection is None:
            raise RuntimeError("event bus is not connected")
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        exchange = await self._declare_exchange(channel)
        dead_letters = await channel.declare_exchange(
            f"{self._exchange_name}.dlx", aio_pika.ExchangeType.DIRECT, durable=True
        )
        dlq_name = f"{queue}.dlq"
        dlq = await channel.declare_queue(
            dlq_name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dlq.bind(dead_letters, routing_key=dlq_name)
        main = await channel.declare_queue(
            queue,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": self._delivery_limit,
                "x-dead-letter-exchange": dead_letters.name,
                "x-dead-letter-routing-key": dlq_name,
            },
        )
        for event_type in event_types:
            await main.bind(exchange, routing_key=event_type.routing_key)
        self._consumed[queue] = (main, exchange)
        await main.consume(callback)
        log.info("consuming %s", queue, extra={"event_types": sorted(event_types)})

    async def bind(self, queue: str, event_types: Iterable[EventType]) -> None:
        """Binds a queue this process consumes (``consume``) to more types, for good: the
        queue is durable and shared by the service's replicas, so one bind serves them all
        and outlives restarts. (Never unbound: a replica unbinding what another just bound
        for a new subscriber would lose its events.)"""
        main, exchange = self._consumed[queue]
        for event_type in event_types:
            await main.bind(exchange, routing_key=event_type.routing_key)

    async def broadcast(
        self, queue: str, event_types: Iterable[EventType], callback: MessageCallback
    ) -> None:
        """Every process hears these types: ``queue`` is this process's own (exclusive, gone
        with its connection), unlike ``consume``'s queue that a service's replicas share.
        Messages are not acknowledged one by one: missing one is repaired by the caller's
        own catch-up (see shared.revocations)."""
        if self._connection is None:
            raise RuntimeError("event bus is not connected")
        channel = await self._connection.channel()
        exchange = await self._declare_exchange(channel)
        own = await channel.declare_queue(queue, exclusive=True, auto_delete=True)
        for event_type in event_types:
            await own.bind(exchange, routing_key=event_type.routing_key)
        await own.consume(callback, no_ack=True)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
