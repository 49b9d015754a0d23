"""How many messages and consumers RabbitMQ counts on queues now: passive declarations on a
connection of their own, so a missing queue (which closes the channel that asked) never touches
the broker's channels that route and publish."""

import contextlib

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection

from services.router.app.ports import NO_QUEUE, QueueDepth


class RabbitQueueStats:
    def __init__(self, amqp_url: str, *, name: str) -> None:
        self._amqp_url = amqp_url
        self._name = name
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None

    async def depths(self, queues: list[str]) -> dict[str, QueueDepth]:
        """Messages ready to deliver (not those a consumer holds unacknowledged) and consumers."""
        found: dict[str, QueueDepth] = {}
        try:
            for queue in queues:
                channel = await self._open_channel()
                try:
                    declared = await channel.declare_queue(queue, passive=True)
                except (
                    aio_pika.exceptions.ChannelClosed
                ):  # no such queue (yet): the broker closed the channel
                    self._channel = None
                    found[queue] = NO_QUEUE
                    continue
                result = declared.declaration_result
                found[queue] = QueueDepth(
                    messages=result.message_count or 0, consumers=result.consumer_count or 0
                )
        except Exception:
            # A connection lost under us (RabbitMQ restarted) does not always say so in `is_closed`:
            # it raises "closed" on every use. Drop it, so that the next round connects afresh.
            await self.close()
            raise
        return found

    async def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to close cleanly
                await connection.close()

    async def _open_channel(self) -> AbstractChannel:
        if self._connection is None or self._connection.is_closed:
            # Not robust: a connection lost between rounds is simply opened again by the next one.
            self._connection = await aio_pika.connect(
                self._amqp_url, client_properties={"connection_name": f"sendpool-{self._name}-queue-stats"}
            )
            self._channel = None
        if self._channel is None or self._channel.is_closed:
            self._channel = await self._connection.channel()
        return self._channel
