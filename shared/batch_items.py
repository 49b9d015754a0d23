"""Handling a batch message one item at a time, so that one item's failure is that item's alone.

A batch (of recipients, of status events) arrives as one RabbitMQ message and is acknowledged
once, when every item is settled. The items are handled concurrently. An item whose handling
fails is not allowed to take the others down with it:

- a transient fault (`shared.transient`: the database or broker unreachable, a time-out) is retried
  for that item alone a few times, briefly; if it persists, it is raised once the other items are
  settled, and the consumer's `RetryTransientFaults` waits the outage out and handles the batch
  again — every handler is idempotent per item, so the items already settled are settled again
  from what they recorded (a delivery worker re-publishes a recorded outcome, it does not send);
- a malformed item (`MalformedMessage`, a validation error) is dead-lettered alone at once;
- any other error is retried for that item alone (`attempts` in all, told that it is a retry, as
  a redelivery would), then the item is dead-lettered on its own, with its reason, and the batch
  goes on: one poisoned recipient never fails or re-sends the others.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import structlog
from pydantic import ValidationError

from shared.messaging import MALFORMED_REASON, MalformedMessage
from shared.transient import transient_fault

log = structlog.get_logger("batch_items")

T = TypeVar("T")

HandleItem = Callable[[T, bool], Awaitable[None]]
"""Handle one item: (the item, whether an earlier try of it may have done part of the work)."""

DeadLetterItem = Callable[[T, str], Awaitable[None]]
"""Move one item that cannot be handled to sendpool.dead, with its reason."""

TRANSIENT_PAUSES = (0.5, 1.0, 2.0)
"""Pauses between an item's tries while its fault is transient, before the batch is retried whole."""


async def handle_each(
    items: Sequence[T],
    handle: HandleItem[T],
    dead_letter: DeadLetterItem[T],
    *,
    redelivered: bool = False,
    attempts: int = 3,
    pause: float = 0.2,
) -> None:
    """Settle every item of a batch: handled, or dead-lettered alone (see the module's text).

    Raises only a transient fault that outlasted the brief retries here, after every other item
    is settled."""
    pending = [(item, redelivered) for item in items]
    failures: dict[int, int] = {}
    transient_rounds = 0
    while pending:
        results = await asyncio.gather(
            *(handle(item, retry) for item, retry in pending), return_exceptions=True
        )
        retry_now: list[tuple[T, bool]] = []
        transient: BaseException | None = None
        poisoned: list[tuple[T, BaseException]] = []
        for (item, _), result in zip(pending, results, strict=True):
            if not isinstance(result, BaseException):
                continue
            if isinstance(result, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise result
            if isinstance(result, MalformedMessage | ValidationError):
                await dead_letter(item, f"{MALFORMED_REASON}: {result}")
                continue
            if transient_fault(result) is not None:
                transient = transient or result
                retry_now.append((item, True))
                continue
            count = failures[id(item)] = failures.get(id(item), 0) + 1
            if count >= attempts:
                poisoned.append((item, result))
            else:
                log.warning("batch item failed; retrying it alone", error=repr(result), attempt=count)
                retry_now.append((item, True))
        for item, error in poisoned:
            await dead_letter(item, f"failed {attempts} times in its batch, last error: {error!r}")
        if transient is not None:
            if transient_rounds >= len(TRANSIENT_PAUSES):
                raise transient
            await asyncio.sleep(TRANSIENT_PAUSES[transient_rounds])
            transient_rounds += 1
        elif retry_now:
            await asyncio.sleep(pause)
        pending = retry_now
