"""What `sendpool dead-letters list` and `replay` do with the messages in `sendpool.dead`.

Two kinds of message end there: those a consumer gave up on (`shared.messaging.dead_letter`:
malformed, or failing on its last allowed delivery), with the reason, where they were consumed
from and when in `x-sendpool-*` headers; and those RabbitMQ dead-lettered itself when a quorum
queue's delivery limit ran out (a consumer that crashed or hung on them), described by RabbitMQ's
`x-death` and `x-first-death-*` headers.

Both commands read the queue with basic.get and no ack, and hold every message they read until
they finish: holding is what makes the next get return the next message (a message given back
at once would come straight back), and giving them all back at the end, in order, leaves the
queue in its order. A message replayed is acked only once the broker confirmed its re-publish,
so one that fails to publish stays; and an interrupted command's messages go back by themselves
when its channel closes. Only the messages that were in the queue when the command started are
read, so a replayed message that fails again and comes straight back is not replayed twice.

The messages given back are nacked (`basic.nack`, requeue): RabbitMQ 4.3 and later does not count
that as a failed delivery, and `sendpool.dead` has no delivery limit, so listing can never make
RabbitMQ drop a dead letter on versions that do count it.
"""

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, TypedDict

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared.messaging import DEAD_AT_HEADER, DEAD_QUEUE_HEADER, DEAD_REASON_HEADER, SOURCE_QUEUE_HEADER
from shared.topology import DEAD_QUEUE

GET_TIMEOUT_SECONDS = 10.0

_DEAD_LETTER_HEADERS = {DEAD_REASON_HEADER, SOURCE_QUEUE_HEADER, DEAD_QUEUE_HEADER, DEAD_AT_HEADER, "x-death"}
_DEAD_LETTER_HEADER_PREFIXES = ("x-first-death-", "x-last-death-")
# Counts of the queue a message was delivered from; the queue it is replayed into keeps its own,
# and a count carried over would make its consumer think the message is on its last delivery.
_DELIVERY_COUNT_HEADERS = {"x-delivery-count", "x-acquired-count"}


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@dataclass
class DeadLetter:
    """One message in sendpool.dead, as an operator needs to judge and replay it."""

    message_id: str | None
    reason: str
    source: str
    """`<exchange>/<routing key>` it was consumed with or published to (`(default)/<queue>`)."""
    queue: str | None
    """The queue whose consumer gave up on it (or from which RabbitMQ dead-lettered it), if known."""
    dead_lettered_by: str
    """`sendpool` (a consumer's middleware) or `rabbitmq` (a delivery limit ran out)."""
    dead_at: float | None
    size: int
    replay_exchange: str | None
    replay_routing_key: str | None
    rabbitmq_deaths: list[dict[str, Any]] = field(default_factory=list)
    first_death: dict[str, str] = field(default_factory=dict)

    @property
    def replay_target(self) -> str:
        if self.replay_routing_key is None:
            return "(unknown)"
        return f"{self.replay_exchange or '(default)'}/{self.replay_routing_key}"

    def age_seconds(self, now: float) -> float | None:
        return None if self.dead_at is None else max(0.0, now - self.dead_at)

    def matches(
        self, *, source: str | None = None, reason_contains: str | None = None, message_id: str | None = None
    ) -> bool:
        """`source` is a glob matched against the source (`exchange/routing key`) and the queue."""
        if source is not None and not any(
            fnmatchcase(candidate, source) for candidate in (self.source, self.queue) if candidate
        ):
            return False
        if reason_contains is not None and reason_contains.lower() not in self.reason.lower():
            return False
        return message_id is None or self.message_id == message_id

    def as_json(self, now: float) -> dict[str, Any]:
        age = self.age_seconds(now)
        return {
            "message_id": self.message_id,
            "reason": self.reason,
            "source": self.source,
            "queue": self.queue,
            "dead_lettered_by": self.dead_lettered_by,
            "dead_at": None
            if self.dead_at is None
            else datetime.fromtimestamp(self.dead_at, UTC).isoformat(),
            "age_seconds": None if age is None else round(age, 1),
            "size_bytes": self.size,
            "replay_to": self.replay_target,
            "x_death": self.rabbitmq_deaths,
            "x_first_death": self.first_death,
        }


class _MessageFacts(TypedDict):
    """What a `DeadLetter` says about its message whoever dead-lettered it."""

    message_id: str | None
    size: int
    rabbitmq_deaths: list[dict[str, Any]]
    first_death: dict[str, str]


def read_dead_letter(message: AbstractIncomingMessage) -> DeadLetter:
    headers: Mapping[str, Any] = message.headers or {}
    deaths = [_death_entry(entry) for entry in headers.get("x-death") or [] if isinstance(entry, Mapping)]
    first_death = {
        key.removeprefix("x-first-death-"): _text(value)
        for key, value in headers.items()
        if key.startswith("x-first-death-")
    }
    common: _MessageFacts = {
        "message_id": message.message_id,
        "size": len(message.body),
        "rabbitmq_deaths": deaths,
        "first_death": first_death,
    }
    if DEAD_REASON_HEADER in headers:
        source = _text(headers[SOURCE_QUEUE_HEADER]) if SOURCE_QUEUE_HEADER in headers else None
        queue = _text(headers[DEAD_QUEUE_HEADER]) if DEAD_QUEUE_HEADER in headers else None
        # Back to the queue that gave up on it when known: through the exchange, a status event
        # would reach every consumer bound to it again, not only the one that failed.
        replay: tuple[str | None, str | None] = (None, None)
        if queue:
            replay = ("", queue)
        elif source:
            source_exchange, _, source_routing_key = source.partition("/")
            replay = ("" if source_exchange == "(default)" else source_exchange, source_routing_key)
        dead_at = headers.get(DEAD_AT_HEADER)
        return DeadLetter(
            reason=_text(headers[DEAD_REASON_HEADER]),
            source=source or "(unknown)",
            queue=queue,
            dead_lettered_by="sendpool",
            dead_at=float(dead_at) if isinstance(dead_at, int | float) else _timestamp(message.timestamp),
            replay_exchange=replay[0],
            replay_routing_key=replay[1],
            **common,
        )
    # RabbitMQ's own: x-death lists one entry per (queue, reason), the latest first.
    latest = deaths[0] if deaths else {}
    queue = latest.get("queue") or first_death.get("queue")
    exchange = latest.get("exchange", first_death.get("exchange", ""))
    routing_keys = latest.get("routing-keys") or []
    routing_key = routing_keys[0] if routing_keys else None
    reason = latest.get("reason") or first_death.get("reason") or "unknown"
    return DeadLetter(
        reason=f"dead-lettered by RabbitMQ: {reason}"
        + (f" from {queue} after {latest['count']} time(s)" if queue and "count" in latest else ""),
        source=f"{exchange or '(default)'}/{routing_key if routing_key is not None else queue or ''}",
        queue=queue,
        dead_lettered_by="rabbitmq",
        dead_at=latest.get("time_epoch") or _timestamp(message.timestamp),
        replay_exchange="" if queue else exchange,
        replay_routing_key=queue or routing_key,
        **common,
    )


def _death_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "routing-keys":
            summary[key] = [_text(item) for item in value or []]
        elif key == "count":
            summary[key] = int(value)
        elif key == "time":
            epoch = _timestamp(value)
            summary["time"] = None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()
            summary["time_epoch"] = epoch
        else:
            summary[key] = _text(value)
    return summary


def _timestamp(value: Any) -> float | None:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


def replay_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """The message's own headers, without what dead-lettering and delivering added."""
    return {
        key: value
        for key, value in headers.items()
        if key not in _DEAD_LETTER_HEADERS
        and key not in _DELIVERY_COUNT_HEADERS
        and not key.startswith(_DEAD_LETTER_HEADER_PREFIXES)
    }


class DeadLetterQueue:
    """sendpool.dead, read in order; every message read and not acked is given back on exit."""

    def __init__(self, channel: AbstractChannel, queue: aio_pika.abc.AbstractQueue) -> None:
        self.channel = channel
        self._queue = queue
        self.total = queue.declaration_result.message_count or 0
        self._held: list[AbstractIncomingMessage] = []

    async def messages(self) -> AsyncIterator[tuple[AbstractIncomingMessage, DeadLetter]]:
        """Each message that was in the queue when it was opened, oldest first."""
        for _ in range(self.total):
            message = await self._queue.get(no_ack=False, fail=False, timeout=GET_TIMEOUT_SECONDS)
            if message is None:
                return
            self._held.append(message)
            yield message, read_dead_letter(message)

    async def remove(self, message: AbstractIncomingMessage) -> None:
        await message.ack()
        self._held.remove(message)

    async def give_back(self) -> None:
        held, self._held = self._held, []
        if not self.channel.is_closed:
            for message in held:  # in the order read, so the queue keeps its order
                await message.nack(requeue=True)


@asynccontextmanager
async def open_dead_letters(amqp_url: str) -> AsyncIterator[DeadLetterQueue]:
    connection = await aio_pika.connect(
        amqp_url, client_properties={"connection_name": "sendpool-dead-letters"}
    )
    async with connection:
        # Confirms and returns: a replay counts only once the broker has it, routed to a queue.
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queue = await channel.declare_queue(DEAD_QUEUE.name, passive=True)
        dead = DeadLetterQueue(channel, queue)
        try:
            yield dead
        finally:
            await dead.give_back()


@dataclass
class Filters:
    source: str | None = None
    reason_contains: str | None = None
    message_id: str | None = None
    limit: int | None = None

    def admit(self, letter: DeadLetter, taken: int) -> bool:
        if self.limit is not None and taken >= self.limit:
            return False
        return letter.matches(
            source=self.source, reason_contains=self.reason_contains, message_id=self.message_id
        )


async def list_dead_letters(amqp_url: str, filters: Filters) -> tuple[list[DeadLetter], int]:
    """The matching dead letters, oldest first, and how many the queue holds; none is consumed."""
    found: list[DeadLetter] = []
    async with open_dead_letters(amqp_url) as dead:
        async for _message, letter in dead.messages():
            if filters.admit(letter, len(found)):
                found.append(letter)
            if filters.limit is not None and len(found) >= filters.limit:
                break
        return found, dead.total


@dataclass
class ReplayOutcome:
    letter: DeadLetter
    replayed: bool
    error: str | None = None


async def replay_dead_letters(
    amqp_url: str, filters: Filters, *, dry_run: bool = False, on_outcome: Callable[[ReplayOutcome], None]
) -> list[ReplayOutcome]:
    """Re-publish each matching dead letter where it came from, then remove it from sendpool.dead.

    Persistent, with its message id, content type and own headers; confirmed by the broker and
    routed (mandatory) before the dead letter is acked, so a failed publish leaves it in place.
    A dead letter whose destination is unknown is left too. `dry_run` only says what would go where.
    """
    outcomes: list[ReplayOutcome] = []
    async with open_dead_letters(amqp_url) as dead:
        async for message, letter in dead.messages():
            if not filters.admit(letter, len(outcomes)):
                continue
            if letter.replay_routing_key is None:
                outcome = ReplayOutcome(letter, False, "where it came from is unknown")
            elif dry_run:
                outcome = ReplayOutcome(letter, False)
            else:
                try:
                    await _republish(dead.channel, message, letter)
                except Exception as exc:  # unroutable, refused, or the connection went: it stays dead
                    outcome = ReplayOutcome(letter, False, f"{type(exc).__name__}: {exc}")
                else:
                    await dead.remove(message)
                    outcome = ReplayOutcome(letter, True)
            outcomes.append(outcome)
            on_outcome(outcome)
            if dead.channel.is_closed:
                break
    return outcomes


async def _republish(channel: AbstractChannel, message: AbstractIncomingMessage, letter: DeadLetter) -> None:
    exchange = (
        channel.default_exchange
        if not letter.replay_exchange
        else await channel.get_exchange(letter.replay_exchange, ensure=False)
    )
    await exchange.publish(
        aio_pika.Message(
            message.body,
            headers=replay_headers(message.headers or {}),
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            priority=message.priority,
            correlation_id=message.correlation_id,
            reply_to=message.reply_to,
            message_id=message.message_id,
            timestamp=message.timestamp,
            type=message.type,
            app_id=message.app_id,
        ),
        routing_key=letter.replay_routing_key or "",
        mandatory=True,
    )


def now() -> float:
    return time.time()
