"""The RabbitMQ broker every service uses: confirms, persistent messages, dead letters with reasons."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream import AckPolicy, BaseMiddleware
from faststream.message import StreamMessage
from faststream.rabbit import Channel, RabbitBroker, RabbitResponse
from faststream.rabbit.subscriber import RabbitSubscriber
from pydantic import BaseModel, ValidationError

from shared import metrics
from shared.contracts import RpcError
from shared.topology import DEAD_EXCHANGE, DEAD_QUEUE, DELIVERY_LIMIT

log = structlog.get_logger("messaging")

DEAD_REASON_HEADER = "x-sendpool-dead-reason"
SOURCE_QUEUE_HEADER = "x-sendpool-source"


class MalformedMessage(ValueError):
    """Raised by a handler for a message that can never be processed, whatever the retries."""


_MALFORMED = (ValidationError, json.JSONDecodeError, UnicodeDecodeError, MalformedMessage)


async def dead_letter(broker: RabbitBroker, msg: StreamMessage, reason: str) -> None:
    """Move a message to sendpool.dead with its reason, before the caller acks the original."""
    raw = msg.raw_message
    headers = dict(msg.headers or {})
    headers[DEAD_REASON_HEADER] = reason[:1000]
    headers[SOURCE_QUEUE_HEADER] = f"{raw.exchange or '(default)'}/{raw.routing_key}"
    await broker.publish(
        raw.body,
        exchange=DEAD_EXCHANGE,
        headers=headers,
        content_type=raw.content_type,
        message_id=raw.message_id,
        persist=True,
    )
    log.warning("message dead-lettered", reason=reason[:300], source=headers[SOURCE_QUEUE_HEADER])


class DeadLetterOnError(BaseMiddleware):
    """Malformed messages go straight to sendpool.dead with their reason; other errors are retried.

    A message that fails for another reason is requeued (after a short pause, so a broken
    dependency does not turn into a hot loop) until its last allowed delivery, and then
    dead-lettered with the exception as its reason, so the consumer always keeps going.
    """

    broker: RabbitBroker

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage) -> Any:
        try:
            return await call_next(msg)
        except _MALFORMED as exc:
            return await self._give_up(msg, f"malformed message: {exc}")
        except Exception as exc:
            deliveries = int((msg.headers or {}).get("x-delivery-count", 0)) + 1
            if deliveries >= DELIVERY_LIMIT:
                return await self._give_up(msg, f"failed {deliveries} times, last error: {exc!r}")
            log.warning("message processing failed; will retry", error=repr(exc), delivery=deliveries)
            await asyncio.sleep(min(0.2 * deliveries, 2.0))
            raise

    async def _give_up(self, msg: StreamMessage, reason: str) -> Any:
        await dead_letter(self.broker, msg, reason)
        # A caller waiting on an RPC gets the reason at once instead of a time-out.
        return rpc_reply(RpcError(error=reason)) if msg.reply_to else None


def make_broker(
    amqp_url: str, service: str, prefetch: int = 200, *, message_metrics: bool = True
) -> RabbitBroker:
    """A broker with publisher confirms, unroutable publishes raising, dead letters with reasons,
    and Prometheus metrics of what it consumes and publishes (`shared.metrics`)."""

    middleware = type("ServiceDeadLetterOnError", (DeadLetterOnError,), {})
    broker = RabbitBroker(
        amqp_url,
        default_channel=Channel(prefetch_count=prefetch, publisher_confirms=True, on_return_raises=True),
        # The first is outermost. The metrics sit inside the dead-letter middleware so that they see
        # the handler's own result: a malformed message counts as an exception there, before it is
        # dead-lettered and acked; they re-raise, so the dead-letter middleware still sees every error.
        middlewares=[middleware, metrics.broker_middleware(service)] if message_metrics else [middleware],
        ack_policy=AckPolicy.NACK_ON_ERROR,
        app_id=f"sendpool-{service}",
        graceful_timeout=30,
        log_level=logging.DEBUG,  # one line per message is too much at campaign volumes
        logger=logging.getLogger(f"sendpool.{service}.broker"),
    )
    middleware.broker = broker
    return broker


async def declare_dead_letters(broker: RabbitBroker) -> None:
    exchange = await broker.declare_exchange(DEAD_EXCHANGE)
    queue = await broker.declare_queue(DEAD_QUEUE)
    await queue.bind(exchange)


async def publish_model(broker: RabbitBroker, model: BaseModel, **kwargs: Any) -> None:
    """Publish a contract as persistent JSON and wait for the broker's confirm."""
    await broker.publish(
        model.model_dump_json().encode(),
        content_type="application/json",
        persist=True,
        **kwargs,
    )


def rpc_reply(model: BaseModel) -> RabbitResponse:
    """What an RPC handler returns: FastStream publishes it to the caller's direct reply-to address.

    Not mandatory, because `amq.rabbitmq.reply-to` is no queue: RabbitMQ returns a mandatory publish
    to it as NO_ROUTE even though it delivered it, and with `on_return_raises` the handler would fail
    and the request be answered again on every redelivery, up to its delivery limit.
    """
    return RabbitResponse(model.model_dump_json().encode(), content_type="application/json", mandatory=False)


async def stop_consuming(subscriber: RabbitSubscriber) -> None:
    """Stop a subscriber started at run time without stranding a message.

    FastStream's `stop()` first stops handling, then waits for the messages in hand, and only
    then cancels the consumer; whatever RabbitMQ delivers in between is neither handled nor
    acknowledged, and stays stuck on the channel until the process exits. Cancelling first
    means nothing more arrives, and the messages in hand are finished as usual.
    """
    queue, consumer_tag = subscriber._queue_obj, subscriber._consumer_tag  # noqa: SLF001
    if queue is not None and consumer_tag is not None and not queue.channel.is_closed:
        await queue.cancel(consumer_tag)
        subscriber._consumer_tag = None  # noqa: SLF001 - so that stop() does not cancel it twice
    await subscriber.stop()
