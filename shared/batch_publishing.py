"""Publishing per item, travelling per batch: group-commit publishers of the batch contracts.

A use case publishes one status event, one message back to routing, one delivery at a time, and
awaits its confirm, exactly as if each were a message of its own. Underneath, what is handed in
while a publish is under way goes out with the next one (`shared.batching.GroupCommit`), grouped
into the batch contracts of `shared.contracts` — one broker message and one confirm for many
items. Nothing waits on a timer, so a lone item goes out at once.

When tracing is on (`shared.tracing`), each item is stamped with the span it was handed in from
(`traceparent`), the parent of the next step's span about that message; the batch itself is published
outside any message's span, its publish span in a trace of its own.
"""

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from faststream.rabbit.publisher import RabbitPublisher
from pydantic import BaseModel

from shared import tracing
from shared.batching import GroupCommit
from shared.contracts import (
    MAX_BATCH_RECIPIENTS,
    DeliveryRequested,
    SendBatch,
    SendRequested,
    StatusBatch,
    StatusEvent,
)

T = TypeVar("T")
X = TypeVar("X")

Batches = Callable[[list[T]], Iterable[tuple[BaseModel, dict[str, Any]]]]
"""Turns the items of one flush into (batch message, publish arguments) pairs."""


class BatchPublisher(Generic[T]):
    def __init__(
        self, publisher: RabbitPublisher, batches: Batches[T], *, max_items: int = 5000, linger: float = 0.0
    ) -> None:
        """`linger`: see `GroupCommit`."""
        self._publisher = publisher
        self._batches = batches
        self._commits: GroupCommit[T, None] = GroupCommit(self._flush, max_items=max_items, linger=linger)

    async def publish(self, item: T) -> None:
        """Returns once the batch carrying `item` is confirmed by the broker."""
        if tracing.ENABLED and (traceparent := tracing.current_traceparent()) is not None:
            item = _with_traceparent(item, traceparent)
        await self._commits.submit(item)

    async def _flush(self, items: list[T]) -> list[None]:
        with tracing.detached():
            await asyncio.gather(
                *(
                    self._publisher.publish(message.model_dump_json().encode(), **kwargs)
                    for message, kwargs in self._batches(items)
                )
            )
        return [None] * len(items)


def _with_traceparent(item: T, traceparent: str) -> T:
    """`item` (a message, or a message with the queue it goes to) published from the span `traceparent`."""
    stamped: object
    if isinstance(item, SendRequested | StatusEvent):
        stamped = item.model_copy(update={"traceparent": traceparent})
    elif isinstance(item, DeliveryRequested):
        stamped = item.model_copy(update={"send": item.send.model_copy(update={"traceparent": traceparent})})
    elif isinstance(item, tuple):
        queue, message = item
        stamped = (queue, _with_traceparent(message, traceparent))
    else:
        return item
    return stamped  # type: ignore[return-value]


def status_batches(
    publisher: RabbitPublisher, *, max_size: int = MAX_BATCH_RECIPIENTS, linger: float = 0.0
) -> BatchPublisher[StatusEvent]:
    """Status events, as `StatusBatch`es on their `<tenant>.<campaign>.<status>` routing keys.

    Each status message costs every consumer (the scheduler, the bounces service, a tenant's own
    systems) a delivery: a producer whose events trickle in one by one (a delivery worker, as its
    sends finish) lingers a little so that they travel together."""

    def batches(events: list[StatusEvent]) -> Iterable[tuple[BaseModel, dict[str, Any]]]:
        return (
            (batch, {"routing_key": batch.routing_key}) for batch in StatusBatch.of(events, max_size=max_size)
        )

    return BatchPublisher(publisher, batches, linger=linger)


def send_batches(
    publisher: RabbitPublisher, *, max_size: int = MAX_BATCH_RECIPIENTS
) -> BatchPublisher[SendRequested]:
    """Messages back to routing, as `SendBatch`es (the publisher names the exchange and key)."""

    def batches(sends: list[SendRequested]) -> Iterable[tuple[BaseModel, dict[str, Any]]]:
        return ((batch, {}) for batch in SendBatch.of(sends, max_size=max_size))

    return BatchPublisher(publisher, batches)


def queued_batches(
    publisher: RabbitPublisher, batches_of: Callable[[list[X]], Iterable[BaseModel]]
) -> BatchPublisher[tuple[str, X]]:
    """Items to a queue each names (a wait queue, a server's queue), as the batches `batches_of`
    makes of each queue's items (`SendBatch.of`, `DeliveryBatch.of`)."""

    def batches(items: list[tuple[str, X]]) -> Iterable[tuple[BaseModel, dict[str, Any]]]:
        per_queue: dict[str, list[X]] = {}
        for queue, item in items:
            per_queue.setdefault(queue, []).append(item)
        for queue, queued in per_queue.items():
            for batch in batches_of(queued):
                yield batch, {"queue": queue}

    return BatchPublisher(publisher, batches)


def queued_send_batches(publisher: RabbitPublisher) -> BatchPublisher[tuple[str, SendRequested]]:
    """Messages to a queue each names (a wait queue), as `SendBatch`es per queue."""
    return queued_batches(publisher, SendBatch.of)
