"""A transactional outbox: decisions other services must hear are stored with the change that
made them, then published by a relay, at least once, in the order they were recorded.

Publishing inside a database transaction can go wrong two ways: the publish succeeds and the
commit fails (others hear of a change that never happened), or the commit succeeds and the
publish fails (the change happened and nobody hears of it: a campaign stopped in one service and
running in another, for good). Here the message is a row written in the change's own
transaction (`record`); `OutboxRelay` publishes committed rows and deletes them once RabbitMQ
confirmed them. A crash between confirm and delete publishes a row again, so consumers must be
idempotent, as every consumer in sendpool is (message ids, state that only moves forward).

Each service that uses it has an `outbox` table in its own schema (see `OUTBOX_TABLE`, which its
migration creates) and runs one relay; replicas take turns through an advisory lock, so rows
go out in order.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

import asyncpg
import structlog
from faststream.rabbit.publisher import RabbitPublisher

from shared.background import repeat
from shared.db import Database, DbConnection
from shared.limits import OUTBOX_MESSAGE_MAX_BYTES

log = structlog.get_logger("outbox")

OUTBOX_TABLE = """
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    exchange    text NOT NULL,
    routing_key text NOT NULL,
    body        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
"""
"""The table, as each service's migration creates it (a copy: migrations are plain SQL files)."""

_INSERT = (
    "INSERT INTO outbox (exchange, routing_key, body) SELECT $1, unnest($2::text[]), unnest($3::bytea[])"
)


class MessageTooLarge(ValueError):
    """Refused when it is recorded rather than published: at the head of the outbox, a message the
    broker cannot take would fail every round of the relay and hold up every row behind it. The
    contracts' bounds keep every message far below the limit; this is the last guard."""


class RoutedMessage(Protocol):
    """A contract published under a routing key of its own (`StatusEvent`, `CampaignEvent`, ...)."""

    @property
    def routing_key(self) -> str: ...

    def model_dump_json(self) -> str: ...


async def record(
    conn: DbConnection, exchange: str, messages: Sequence[RoutedMessage], *, channel: str
) -> None:
    """Store `messages` for publishing on `exchange`, each under its own `routing_key`, in the
    caller's transaction, and wake the relay once that transaction commits (NOTIFY is delivered
    on commit only)."""
    if not messages:
        return
    bodies = [message.model_dump_json().encode() for message in messages]
    too_large = max(len(body) for body in bodies)
    if too_large > OUTBOX_MESSAGE_MAX_BYTES:
        raise MessageTooLarge(
            f"a message of {too_large} bytes cannot go through the outbox (at most {OUTBOX_MESSAGE_MAX_BYTES})"
        )
    await conn.execute(_INSERT, exchange, [message.routing_key for message in messages], bodies)
    await conn.execute("SELECT pg_notify($1, '')", channel)


class OutboxRelay:
    """Publishes the rows of one schema's outbox, oldest first, and deletes what RabbitMQ confirmed.

    One replica at a time relays (a transaction-scoped advisory lock named after the schema), so
    the order holds across replicas; the others find the lock taken and wait for the next round.
    A round starts when a NOTIFY says rows were committed, or every `poll_seconds` in case a
    notification was missed (the listening connection was lost, say).
    """

    def __init__(
        self,
        database: Database,
        publisher: RabbitPublisher,
        *,
        schema: str,
        channel: str,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
    ) -> None:
        self._database = database
        self._publisher = publisher
        self._schema = schema
        self._channel = channel
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._listener: asyncpg.pool.PoolConnectionProxy | None = None
        self._task: asyncio.Task[None] | None = None

    async def publish_pending(self) -> int:
        """Publish every row committed so far (as long as this replica holds the turn); returns how many."""
        published = 0
        while True:
            async with self._database.pool.acquire() as conn, conn.transaction():
                if not await conn.fetchval(
                    "SELECT pg_try_advisory_xact_lock(hashtext($1))", f"sendpool.{self._schema}.outbox"
                ):
                    return published
                rows = await conn.fetch(
                    "SELECT id, exchange, routing_key, body FROM outbox ORDER BY id LIMIT $1",
                    self._batch_size,
                )
                if not rows:
                    return published
                # Published in order on one channel, each confirmed before the rows are deleted.
                await asyncio.gather(
                    *(
                        self._publisher.publish(
                            row["body"],
                            exchange=row["exchange"],
                            routing_key=row["routing_key"],
                            content_type="application/json",
                            persist=True,
                            # Status and campaign events are for whoever subscribes; one nobody
                            # is bound to must not block the rows behind it for good.
                            mandatory=False,
                        )
                        for row in rows
                    )
                )
                await conn.execute(
                    "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [row["id"] for row in rows]
                )
            published += len(rows)
            if len(rows) < self._batch_size:
                return published

    async def _round(self) -> None:
        await self._listen()
        self._wake.clear()
        await self.publish_pending()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._poll_seconds)

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = None
        conn = await self._database.pool.acquire()
        try:
            await conn.add_listener(self._channel, self._on_notify)
        except BaseException:
            await self._database.pool.release(conn)
            raise
        self._listener = conn

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    def start(self) -> None:
        # every_seconds=0: a round waits for a notification (or the poll) by itself.
        self._task = asyncio.create_task(
            repeat(f"{self._schema}-outbox-relay", self._round, every_seconds=0.0),
            name=f"{self._schema}-outbox-relay",
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(self._channel, self._on_notify)
                await self._database.pool.release(self._listener)
            self._listener = None
