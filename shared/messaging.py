"""The RabbitMQ broker every service uses: confirms, persistent messages, dead letters with reasons.

Failures of a consumer's handler are told apart three ways (`make_broker` wires the middlewares):

- a malformed message can never be processed: it goes straight to sendpool.dead, with its reason;
- a transient fault (database or broker unreachable, a time-out; `shared.transient`) is waited out
  inside the consumer: the handler is called again for the same message with exponential backoff,
  for up to `SENDPOOL_TRANSIENT_RETRY_SECONDS`, so an outage does not spend the delivery limit;
- anything else, and a transient fault that outlasted that budget, is requeued after a short pause
  until the message's last allowed delivery, and then dead-lettered with the error as its reason.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import structlog
from aio_pika import IncomingMessage
from faststream import AckPolicy, BaseMiddleware, ContextRepo
from faststream.message import StreamMessage
from faststream.opentelemetry import TelemetryMiddleware
from faststream.rabbit import Channel, RabbitBroker, RabbitResponse
from faststream.rabbit.opentelemetry.provider import RabbitTelemetrySettingsProvider
from faststream.rabbit.response import RabbitPublishCommand
from faststream.rabbit.subscriber import RabbitSubscriber
from prometheus_client import Counter
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared import metrics, tracing
from shared.contracts import RpcError
from shared.settings import ServiceSettings
from shared.topology import DEAD_EXCHANGE, DEAD_QUEUE, DELIVERY_LIMIT
from shared.transient import TransientFaults, next_pause, transient_fault

log = structlog.get_logger("messaging")

T = TypeVar("T")

DEAD_REASON_HEADER = "x-sendpool-dead-reason"
SOURCE_QUEUE_HEADER = "x-sendpool-source"
"""`<exchange>/<routing key>` the message was consumed with (`(default)` for the default exchange)."""
DEAD_QUEUE_HEADER = "x-sendpool-queue"
"""The queue whose consumer gave up on the message: where `sendpool dead-letters replay` sends it back."""
DEAD_AT_HEADER = "x-sendpool-dead-at"
"""When the message was dead-lettered, in seconds since the epoch (for its age in `dead-letters list`)."""


class MalformedMessage(ValueError):
    """Raised by a handler for a message that can never be processed, whatever the retries."""


MALFORMED_REASON = "malformed message"
"""How the reason of a message that can never be processed begins (`reason_kind` reads it)."""

DEAD_LETTERS = Counter(
    "sendpool_dead_letters",
    "Messages (or single items of a batch) this process moved to sendpool.dead, by service and "
    "reason_kind: malformed, failed (its last allowed delivery or try failed), expired, other.",
    ["service", "reason_kind"],
    registry=metrics.REGISTRY,
)


REASON_KINDS = ("malformed", "failed", "expired", "other")


def reason_kind(reason: str) -> str:
    """The bounded kind of a dead-letter reason, for `sendpool_dead_letters_total`: the reasons
    are written here and in `shared.batch_items`, each beginning with what happened."""
    for prefix, kind in ((MALFORMED_REASON, "malformed"), ("failed ", "failed"), ("expired", "expired")):
        if reason.startswith(prefix):
            return kind
    return "other"


def _service_of(broker: RabbitBroker) -> str:
    """The service a broker belongs to: `make_broker` names it in its app id, `sendpool-<service>`."""
    app_id = getattr(broker.config, "app_id", None) or ""
    return app_id.removeprefix("sendpool-") or "unknown"


_MALFORMED = (ValidationError, json.JSONDecodeError, UnicodeDecodeError, MalformedMessage)


async def dead_letter(
    broker: RabbitBroker,
    msg: StreamMessage[IncomingMessage],
    reason: str,
    *,
    queue: str | None = None,
    body: bytes | None = None,
) -> None:
    """Move a message to sendpool.dead with its reason, before the caller acks the original.

    `body` replaces the message's own: one item of a batch, dead-lettered alone as a batch of one
    (`item_dead_letters`), so that `sendpool dead-letters replay` re-drives that item only."""
    raw = msg.raw_message
    headers = dict(msg.headers or {})
    # The count belongs to the queue it was consumed from; sendpool.dead keeps its own.
    headers.pop("x-delivery-count", None)
    headers[DEAD_REASON_HEADER] = reason[:1000]
    headers[SOURCE_QUEUE_HEADER] = f"{raw.exchange or '(default)'}/{raw.routing_key}"
    headers[DEAD_AT_HEADER] = round(time.time(), 3)
    if queue:
        headers[DEAD_QUEUE_HEADER] = queue
    await broker.publish(
        raw.body if body is None else body,
        exchange=DEAD_EXCHANGE,
        headers=headers,
        content_type=raw.content_type,
        message_id=raw.message_id,
        persist=True,
    )
    DEAD_LETTERS.labels(_service_of(broker), reason_kind(reason)).inc()
    log.warning("message dead-lettered", reason=reason[:300], source=headers[SOURCE_QUEUE_HEADER])


def item_dead_letters(
    broker: RabbitBroker,
    msg: StreamMessage[IncomingMessage],
    queue: str,
    body_of: Callable[[T], BaseModel],
) -> Callable[[T, str], Awaitable[None]]:
    """Dead-letters one item of the batch `msg` carries, as the message `body_of(item)`
    (`shared.batch_items.handle_each` calls it for an item that cannot be handled)."""

    async def dead_letter_item(item: T, reason: str) -> None:
        await dead_letter(broker, msg, reason, queue=queue, body=body_of(item).model_dump_json().encode())

    return dead_letter_item


class ConsumerStopping(Exception):
    """A message was waiting out a transient fault when its consumer began to stop: it is nacked at
    once (requeued for another replica), neither paused on nor counted towards sendpool.dead."""


_Middleware = BaseMiddleware[RabbitPublishCommand, IncomingMessage | None]


def _consuming_subscriber(middleware: _Middleware) -> Any:
    """The subscriber handling the middleware's message (FastStream puts it in the message's context)."""
    return middleware.context.get_local("handler_")


class DeadLetterOnError(_Middleware):
    """Malformed messages go straight to sendpool.dead with their reason; other errors are retried.

    A message that fails for another reason is requeued (after a short pause, so a broken
    dependency does not turn into a hot loop) until its last allowed delivery, and then
    dead-lettered with the exception as its reason, so the consumer always keeps going.
    Transient faults reach it only once `RetryTransientFaults`, inside it, has stopped waiting.

    FastStream makes one per message, calling what the broker was given with the message alone:
    `make_broker` gives it a `partial` binding `broker`, the broker it dead-letters through.
    """

    def __init__(self, msg: IncomingMessage | None, /, *, context: ContextRepo, broker: RabbitBroker) -> None:
        super().__init__(msg, context=context)
        self.broker = broker

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]) -> Any:
        try:
            return await call_next(msg)
        except _MALFORMED as exc:
            return await self._give_up(msg, f"{MALFORMED_REASON}: {exc}")
        except ConsumerStopping:
            raise
        except Exception as exc:
            deliveries = int((msg.headers or {}).get("x-delivery-count", 0)) + 1
            if deliveries >= DELIVERY_LIMIT:
                return await self._give_up(msg, f"failed {deliveries} times, last error: {exc!r}")
            log.warning("message processing failed; will retry", error=repr(exc), delivery=deliveries)
            await asyncio.sleep(min(0.2 * deliveries, 2.0))
            raise

    async def _give_up(self, msg: StreamMessage[Any], reason: str) -> Any:
        subscriber = _consuming_subscriber(self)
        queue = getattr(getattr(subscriber, "queue", None), "name", None)
        await dead_letter(self.broker, msg, reason, queue=queue)
        # A caller waiting on an RPC gets the reason at once instead of a time-out.
        return rpc_reply(RpcError(error=reason)) if msg.reply_to else None


class RetryTransientFaults(_Middleware):
    """Calls the handler again for the same message while it fails with a transient fault.

    Waits 0.5 s, then twice as long each time up to 30 s, for as long as the broker's
    `TransientFaults` budget allows (`SENDPOOL_TRANSIENT_RETRY_SECONDS` from the outage's start),
    then lets the error through to `DeadLetterOnError` (requeue with a pause, as for any error).
    The message is neither acked nor nacked meanwhile, so its delivery count does not move.

    Calling `call_next` again is what a redelivery does, without the trip through RabbitMQ: it is
    the rest of the chain (the metrics middleware, then the handler with its argument parsing),
    built for this message, and FastStream acks or nacks only after the whole chain returns. The
    message is marked redelivered for the calls after the first, as RabbitMQ would have marked it.

    `faults` is the broker's (one per process and service), bound by `make_broker` as `broker` is
    for `DeadLetterOnError`.
    """

    def __init__(
        self, msg: IncomingMessage | None, /, *, context: ContextRepo, faults: TransientFaults
    ) -> None:
        super().__init__(msg, context=context)
        self.faults = faults

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]) -> Any:
        faults = self.faults
        if faults.budget_seconds <= 0:  # SENDPOOL_TRANSIENT_RETRY_SECONDS=0: every failure is requeued
            return await call_next(msg)
        waiting = False
        pause: float | None = None
        deadline = 0.0
        try:
            while True:
                try:
                    result = await call_next(msg)
                except Exception as exc:
                    fault = transient_fault(exc)
                    if fault is None:
                        raise
                    if not waiting:
                        waiting = True
                        faults.waiting += 1
                        deadline = faults.deadline_for_new_wait()
                    pause = min(next_pause(pause), deadline - faults.now())
                    stopping = not self._consumer_running()
                    faults.failed(fault, exc, will_retry=pause > 0 and not stopping)
                    if stopping:
                        raise ConsumerStopping(
                            f"{fault} unreachable while the consumer stops: {exc!r}"
                        ) from exc
                    if pause <= 0:
                        raise  # the budget is spent: requeued like any other failure
                    if not await self._sleep_unless_stopping(pause):
                        raise ConsumerStopping(
                            f"{fault} unreachable while the consumer stops: {exc!r}"
                        ) from exc
                    # The handler may have done part of its work before it failed (the delivery
                    # worker claims a message before it sends it): it sees the next call as the
                    # redelivery it stands for, exactly as if RabbitMQ had redelivered the message.
                    # aio-pika locks a received message against changes, hence object.__setattr__.
                    with contextlib.suppress(AttributeError, TypeError, ValueError):
                        object.__setattr__(msg.raw_message, "redelivered", True)
                    continue
                if waiting:
                    faults.recovered()
                return result
        finally:
            if waiting:
                faults.waiting -= 1

    def _consumer_running(self) -> bool:
        subscriber = _consuming_subscriber(self)
        return subscriber is None or bool(getattr(subscriber, "running", True))

    async def _sleep_unless_stopping(self, seconds: float) -> bool:
        """Sleep, waking every quarter second to see whether the consumer is stopping (it waits for
        the messages in hand, up to the broker's graceful timeout, so a 30 s pause would hold it)."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            if not self._consumer_running():
                return False
            await asyncio.sleep(min(left, 0.25))
        return self._consumer_running()


def make_broker(
    amqp_url: str,
    service: str,
    prefetch: int = 200,
    *,
    message_metrics: bool = True,
    transient_retry_seconds: float | None = None,
) -> RabbitBroker:
    """A broker with publisher confirms, unroutable publishes raising, dead letters with reasons,
    transient faults waited out in the consumer, and Prometheus metrics of what it consumes and
    publishes (`shared.metrics`).

    `transient_retry_seconds` defaults to `ServiceSettings`' default; a service passes its settings
    through `service_broker`.
    """
    if transient_retry_seconds is None:
        transient_retry_seconds = float(ServiceSettings.model_fields["transient_retry_seconds"].default)
    retries = partial(RetryTransientFaults, faults=TransientFaults(service, transient_retry_seconds))
    broker = RabbitBroker(
        amqp_url,
        default_channel=Channel(prefetch_count=prefetch, publisher_confirms=True, on_return_raises=True),
        # The first is outermost. The metrics sit inside the dead-letter middleware (inserted before
        # them below) so that they see the handler's own result: a malformed message counts as an
        # exception there, before it is dead-lettered and acked; they re-raise, so the dead-letter
        # middleware still sees every error. The transient retries sit innermost, so the metrics
        # count a message once however long it waited out an outage (its duration includes the wait).
        middlewares=[metrics.broker_middleware(service), retries] if message_metrics else [retries],
        ack_policy=AckPolicy.NACK_ON_ERROR,
        app_id=f"sendpool-{service}",
        graceful_timeout=30,
        log_level=logging.DEBUG,  # one line per message is too much at campaign volumes
        logger=logging.getLogger(f"sendpool.{service}.broker"),
    )
    # Outermost; it needs the broker it belongs to, so it joins once that exists.
    broker.insert_middleware(partial(DeadLetterOnError, broker=broker))
    # Every series exists from the start at 0: `increase()` cannot see the first dead letter of a
    # series that appears with it, and the alert on dead letters would miss it.
    for kind in REASON_KINDS:
        DEAD_LETTERS.labels(service, kind)
    if tracing.ENABLED:
        # Outermost of all: a batch's consume span covers what is done with it, dead-lettering
        # included, and its publish spans carry the trace context in the message's headers.
        broker.insert_middleware(_broker_telemetry())
    return broker


class _BoundedRabbitTelemetry(RabbitTelemetrySettingsProvider):
    """FastStream's RabbitMQ span names (`<destination> process`, `<destination> create`), with status
    events' routing keys bounded as in the metrics (`shared.metrics.destination_label`): a span name
    per tenant and campaign defeats every tracing backend's grouping. The full routing key stays in
    the span's `messaging.rabbitmq.destination.routing_key` attribute."""

    def get_consume_destination_name(self, msg: StreamMessage[IncomingMessage]) -> str:
        raw = msg.raw_message
        return metrics.destination_label(raw.exchange or "", raw.routing_key or "")

    def get_publish_destination_name(self, cmd: RabbitPublishCommand) -> str:
        return metrics.destination_label(cmd.exchange.name or "", cmd.destination)


def _broker_telemetry() -> TelemetryMiddleware[RabbitPublishCommand]:
    """FastStream's tracing middleware (what `RabbitTelemetryMiddleware` builds) with bounded span names."""
    provider = _BoundedRabbitTelemetry()
    return TelemetryMiddleware[RabbitPublishCommand](settings_provider_factory=lambda _msg: provider)


def service_broker(settings: ServiceSettings, service: str) -> RabbitBroker:
    """The broker of a service process, as its settings configure it."""
    return make_broker(
        settings.amqp_url,
        service,
        prefetch=settings.prefetch,
        message_metrics=settings.message_metrics,
        transient_retry_seconds=settings.transient_retry_seconds,
    )


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


def pydantic_json_decoder(annotation: Any) -> Callable[[StreamMessage[Any]], Awaitable[Any]]:
    """A subscriber's `decoder=` that parses and validates the body against `annotation` in one pass
    (pydantic's Rust JSON parser), instead of FastStream's `json.loads` and validating the dicts
    after. A batch of hundreds of recipients or status events is parsed in a fraction of the time.

    The handler's parameter keeps its annotation (for the AsyncAPI document); FastStream then
    accepts the model instances it receives as they are. A body that does not validate raises
    `ValidationError` inside the consumer's middlewares, so it is dead-lettered as malformed."""
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)

    async def decode(msg: StreamMessage[Any]) -> Any:
        return adapter.validate_json(msg.body)

    return decode


def batch_subscription(annotation: Any, prefetch: int) -> dict[str, Any]:
    """The options of a subscriber to a queue of batches (`broker.subscriber(queue, ..., **these)`):
    a channel of its own, whose prefetch counts batches of hundreds of items rather than messages,
    and the one-pass decoder of `annotation` (`pydantic_json_decoder`)."""
    return {
        "channel": Channel(prefetch_count=prefetch, publisher_confirms=True, on_return_raises=True),
        "decoder": pydantic_json_decoder(annotation),
    }


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
