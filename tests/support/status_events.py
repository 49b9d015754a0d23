"""A test's own ear on `sendpool.status`: every event matching a binding, while a block lasts."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika

from shared.topology import STATUS_EXCHANGE
from tools.stack.waiting import eventually_async


class Heard:
    """What a test's own queue received, in arrival order: each status event of a `StatusBatch`
    as one entry (so tests count messages, not batches), campaign events as they are."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.batches: list[dict] = []
        """The status batches themselves, as they arrived."""

    def receive(self, body: dict) -> None:
        if "events" in body:
            self.batches.append(body)
            self.events.extend(body["events"])
        else:
            self.events.append(body)

    def of(self, status: str) -> list[dict]:
        """Status events of `status`, or campaign events of that kind."""
        return [e for e in self.events if e.get("status", e.get("kind")) == status]

    async def at_least(
        self, count: int, status: str | None = None, *, timeout_seconds: float = 15.0
    ) -> list[dict]:
        """Wait until `count` events (of `status`, if given) have arrived; returns them."""

        async def enough() -> list[dict] | None:
            matching = self.events if status is None else self.of(status)
            return list(matching) if len(matching) >= count else None

        return await eventually_async(
            enough,
            timeout_seconds=timeout_seconds,
            interval_seconds=0.05,
            what=f"{count} {status or 'status'} event(s)",
        )


@asynccontextmanager
async def status_events(
    connection: aio_pika.abc.AbstractConnection, binding: str = "#"
) -> AsyncIterator[Heard]:
    """A private queue on sendpool.status bound with `binding`, for as long as the block lasts."""
    async with connection.channel() as channel:
        exchange = await channel.declare_exchange(STATUS_EXCHANGE.name, type="topic", durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=binding)
        heard = Heard()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                heard.receive(json.loads(message.body))

        await queue.consume(on_message)
        yield heard
