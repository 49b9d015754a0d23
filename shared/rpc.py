"""Requests over RabbitMQ that wait for their answer, any number at once.

FastStream's `broker.request` holds a lock from the publish until the answer: a process asks one
thing at a time, so a connection test that waits 30 s for an unreachable server makes every other
test of that catalog replica wait too. This client uses RabbitMQ's direct reply-to with one
long-lived consumer on a connection of its own, and matches answers to requests by correlation
id, so requests run side by side. The answering side is unchanged (`shared.messaging.rpc_reply`).
"""

import asyncio
from uuid import uuid4

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustConnection

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"


class RpcClient:
    """Opened on first use; `close()` when the service stops."""

    def __init__(self, amqp_url: str, *, name: str) -> None:
        self._amqp_url = amqp_url
        self._name = name
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._opening = asyncio.Lock()

    async def request(
        self, body: bytes, *, queue: str, timeout: float, expiration: float | None = None
    ) -> bytes:
        """Publish `body` (JSON) to `queue` and return the answer's body.

        Raises `TimeoutError` when no answer comes within `timeout`, and
        `aio_pika.exceptions.DeliveryError` when nothing consumes `queue` (the request is returned).
        `expiration` drops a request nobody took in time, so it is not run when nobody waits any more.
        """
        channel = await self._open()
        correlation_id = uuid4().hex
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = answer
        try:
            async with asyncio.timeout(timeout):
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        body,
                        content_type="application/json",
                        correlation_id=correlation_id,
                        reply_to=DIRECT_REPLY_TO,
                        expiration=expiration,
                    ),
                    routing_key=queue,
                    mandatory=True,
                )
                return await answer
        finally:
            self._pending.pop(correlation_id, None)

    async def consumers(self, queue: str) -> int | None:
        """How many consumers `queue` has now; None when the queue does not exist.

        On a channel of its own: a passive declaration of a missing queue closes its channel."""
        await self._open()
        assert self._connection is not None
        channel = await self._connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return None
        try:
            return declared.declaration_result.consumer_count
        finally:
            await channel.close()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = self._channel = None

    async def _open(self) -> AbstractRobustChannel:
        async with self._opening:
            if self._channel is None:
                self._connection = await aio_pika.connect_robust(
                    self._amqp_url, client_properties={"connection_name": f"sendpool-{self._name}-rpc"}
                )
                # Returned (unroutable) requests raise; direct reply-to needs its consumer in no-ack
                # mode, on the channel the requests are published on.
                channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
                replies = await channel.declare_queue(DIRECT_REPLY_TO, passive=True)
                await replies.consume(self._on_answer, no_ack=True)
                self._channel = channel
            return self._channel

    async def _on_answer(self, message: AbstractIncomingMessage) -> None:
        # An answer to a request that has timed out meanwhile has nobody to go to: it is dropped.
        answer = self._pending.get(message.correlation_id or "")
        if answer is not None and not answer.done():
            answer.set_result(message.body)
