"""The attempts record in PostgreSQL (schema `delivery`): claims and outcomes, each by group commit.

The recipients of the batches in hand are handled concurrently, each claiming its message and
then recording its outcome on its own. Neither costs a round trip per recipient, and neither waits
on a timer:

- a claim is handed to a `GroupCommit`: the claims made on one turn of the event loop share one
  statement (an `unnest` INSERT ... ON CONFLICT), started at once, and those made while it runs
  share the next one; each caller gets its own result, the claim or the record in its way;
- an outcome is written at once as well, and the outcomes that arrive while a write is under way
  are written together by the next one.

Outcomes get more care, because until an outcome is durable a worker that dies sends the message
again: the time between the server's acceptance and the record is the window in which a crash
makes a double send. A write that fails is not simply handed to every waiter, since each of them
would then be nacked, redelivered and sent again:

- the database cannot be reached (restarting, a dropped connection): the same write is tried
  again with a growing pause, up to `record_retry_seconds`, and the handlers wait; their
  messages stay unacknowledged, and unsent again, until the record is there;
- the database refuses the statement itself (a value it will not store): the rows are written
  one by one, so one bad row cannot keep the others from their record, and a row still refused
  is written without the server's texts rather than not at all.
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from uuid import UUID

import asyncpg
import structlog

from services.delivery.domain.attempts import AttemptRecord, AttemptState, Claimed, ClaimResult
from shared.batching import GroupCommit
from shared.db import Database

log = structlog.get_logger("delivery.attempts")

MAX_GROUP = 500
"""Most outcomes written by one statement."""

MAX_CLAIMS = 1000
"""Most claims made by one statement."""

FIRST_RETRY_PAUSE = 0.1
MAX_RETRY_PAUSE = 5.0

UNREACHABLE_DATABASE: tuple[type[BaseException], ...] = (
    OSError,  # refused or reset while connecting
    TimeoutError,
    asyncpg.PostgresConnectionError,  # the connection went away under the statement
    asyncpg.InterfaceError,  # a connection already closed, or closed during the statement
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, pg_terminate_backend
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.exceptions.TransactionRollbackError,  # serialization failure, deadlock
)
"""Failures that say nothing about the rows written: the same write may succeed later."""

# A message may be claimed when it has no record yet, or when its last attempt was deferred and
# this is that attempt again (its redelivery) or a later one. The WHERE leaves every other record
# untouched and unreturned, so the caller learns it lost the claim.
_CLAIM = """
INSERT INTO attempts AS current (message_id, server_id, attempt, state)
SELECT message_id, server_id, attempt, 'sending'
  FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS claim (message_id, server_id, attempt)
ON CONFLICT (message_id) DO UPDATE
   SET server_id = EXCLUDED.server_id,
       attempt = EXCLUDED.attempt,
       state = 'sending',
       reply_code = NULL,
       enhanced_code = NULL,
       reply_text = NULL,
       vendor_message_id = NULL,
       -- kept: an earlier attempt that may have been delivered still may have been
       updated_at = now()
 WHERE current.state = 'deferred' AND current.attempt <= EXCLUDED.attempt
RETURNING message_id, maybe_delivered
"""

_READ = """
SELECT message_id, server_id, attempt, state, reply_code, enhanced_code, reply_text, vendor_message_id,
       maybe_delivered
  FROM attempts
 WHERE message_id = ANY($1::uuid[])
"""

_RECORD = """
UPDATE attempts AS current
   SET server_id = outcome.server_id,
       attempt = outcome.attempt,
       state = outcome.state,
       reply_code = outcome.reply_code,
       enhanced_code = outcome.enhanced_code,
       reply_text = outcome.reply_text,
       vendor_message_id = outcome.vendor_message_id,
       maybe_delivered = outcome.maybe_delivered,
       updated_at = now()
  FROM unnest(
         $1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::int[], $6::text[], $7::text[], $8::text[], $9::bool[]
       ) AS outcome (
         message_id, server_id, attempt, state, reply_code, enhanced_code, reply_text, vendor_message_id,
         maybe_delivered
       )
 WHERE current.message_id = outcome.message_id
"""


@dataclass(frozen=True)
class _Claim:
    message_id: UUID
    server_id: UUID
    attempt: int


@dataclass
class _Waiting:
    record: AttemptRecord
    written: asyncio.Future[None]


class PostgresAttempts:
    def __init__(
        self,
        database: Database,
        *,
        record_retry_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`record_retry_seconds`: how long an outcome is tried again while the database cannot be reached."""
        self._database = database
        self._claims: GroupCommit[_Claim, ClaimResult] = GroupCommit(self._claim_batch, max_items=MAX_CLAIMS)
        self._record_retry_seconds = record_retry_seconds
        self._clock = clock
        self._queued: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    async def claim(self, message_id: UUID, server_id: UUID, attempt: int) -> ClaimResult:
        """The claim, or the record that forbids it; shares its statement with the claims made
        meanwhile (see the module's text). Of two claims of one message, in one statement or in
        two racing ones, one wins and the other gets the record the winner wrote."""
        return await self._claims.submit(_Claim(message_id, server_id, attempt))

    async def record(self, record: AttemptRecord) -> None:
        """Return once `record` is durable; raise only if it could not be written for good."""
        waiting = _Waiting(record, asyncio.get_running_loop().create_future())
        self._queued.append(waiting)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_queued(), name="record-attempt-outcomes")
        # The write runs in the writer's task: a handler cancelled meanwhile (its message will come
        # back) does not stop it, so the copy that comes back finds the outcome, not a claim to resend.
        await waiting.written

    async def close(self) -> None:
        """Stop retrying writes (the worker is stopping) and wait for the writer to give up or finish."""
        self._closing.set()
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write_queued(self) -> None:
        try:
            while self._queued:
                group, self._queued = self._queued[:MAX_GROUP], self._queued[MAX_GROUP:]
                await self._write_group(group)
        finally:
            self._writer = None

    async def _write_group(self, group: list[_Waiting]) -> None:
        try:
            await self._until_written(self._write_rows, [waiting.record for waiting in group])
        except UNREACHABLE_DATABASE as exc:
            _settle(group, exc)
        except Exception as exc:
            if len(group) == 1:
                await self._write_alone(group[0], exc)
                return
            log.warning(
                "attempt outcomes refused as a group; writing them one by one",
                outcomes=len(group),
                error=repr(exc),
            )
            for waiting in group:
                try:
                    await self._until_written(self._write_rows, [waiting.record])
                except UNREACHABLE_DATABASE as unreachable:
                    _settle([waiting], unreachable)
                except Exception as refused:
                    await self._write_alone(waiting, refused)
                else:
                    _settle([waiting])
        else:
            _settle(group)

    async def _write_alone(self, waiting: _Waiting, refused: Exception) -> None:
        """One outcome the database refused: record its state without the server's texts, which is
        what an outcome may hold that the database can refuse; without a record it would be sent again."""
        record = waiting.record
        log.error(
            "attempt outcome refused by the database; recording it without the server's reply text",
            message_id=str(record.message_id),
            state=record.state.value,
            error=repr(refused),
        )
        bare = replace(
            record,
            reply_text=f"(the server's reply could not be recorded: {type(refused).__name__})",
            vendor_message_id=None,
        )
        try:
            await self._until_written(self._write_rows, [bare])
        except Exception as exc:
            _settle([waiting], exc)
        else:
            _settle([waiting])

    async def _until_written(
        self, write: Callable[[list[AttemptRecord]], Awaitable[None]], records: list[AttemptRecord]
    ) -> None:
        """`write(records)`, tried again with a growing pause while the database cannot be reached,
        until `record_retry_seconds` have passed or the worker is stopping."""
        give_up_at = self._clock() + self._record_retry_seconds
        pause = FIRST_RETRY_PAUSE
        failures = 0
        while True:
            try:
                await write(records)
            except UNREACHABLE_DATABASE as exc:
                failures += 1
                if self._closing.is_set() or self._clock() + pause > give_up_at:
                    log.error(
                        "attempt outcomes not recorded: the database stayed unreachable; their messages "
                        "will be redelivered and reported unknown",
                        outcomes=len(records),
                        failures=failures,
                        stopping=self._closing.is_set(),
                        error=repr(exc),
                    )
                    raise
                log.warning(
                    "database unreachable while recording attempt outcomes; trying again",
                    outcomes=len(records),
                    failures=failures,
                    retry_in_seconds=pause,
                    error=repr(exc),
                )
                with contextlib.suppress(TimeoutError):  # woken early by close(): stopping ends the retries
                    await asyncio.wait_for(self._closing.wait(), pause)
                pause = min(pause * 2, MAX_RETRY_PAUSE)
            else:
                if failures:
                    log.info("attempt outcomes recorded after the database came back", outcomes=len(records))
                return

    async def _claim_batch(self, claims: list[_Claim]) -> list[ClaimResult]:
        """One statement for every claim of the flush (no transaction around it: the INSERT
        commits by itself, one round trip); a second one reads the records of the claims that lost,
        only when some did (a duplicate, a redelivered batch)."""
        # One statement may not touch a row twice: two copies of a message in one flush become
        # one claim (the first one's), and the other copy finds the record that claim wrote.
        first_claims = {claim.message_id: claim for claim in reversed(claims)}
        # In the order of the rows' keys, as every statement here writes them: two workers claiming
        # the same messages (copies of one batch) wait for each other instead of deadlocking.
        unique = sorted(first_claims.values(), key=_row_order)
        async with self._database.pool.acquire() as conn:
            rows = await conn.fetch(
                _CLAIM,
                [claim.message_id for claim in unique],
                [claim.server_id for claim in unique],
                [claim.attempt for claim in unique],
            )
            claimed = {row["message_id"]: row["maybe_delivered"] for row in rows}
            won = [
                claim.message_id in claimed and first_claims[claim.message_id] is claim for claim in claims
            ]
            lost_ids = list({claim.message_id for claim, ok in zip(claims, won, strict=True) if not ok})
            # Read after the claim committed: a row a racing worker's statement wrote first is
            # committed too by then (ours waited for it), so every lost claim finds its record.
            records = (
                {row["message_id"]: _record_of(row) for row in await conn.fetch(_READ, lost_ids)}
                if lost_ids
                else {}
            )
        return [
            _claimed(claim, claimed[claim.message_id]) if ok else records[claim.message_id]
            for claim, ok in zip(claims, won, strict=True)
        ]

    async def _write_rows(self, records: list[AttemptRecord]) -> None:
        records = sorted(records, key=_row_order)  # the claims' order: see `_claim_batch`
        async with self._database.pool.acquire() as conn:
            await conn.execute(
                _RECORD,
                [record.message_id for record in records],
                [record.server_id for record in records],
                [record.attempt for record in records],
                [record.state.value for record in records],
                [record.reply_code for record in records],
                [record.enhanced_code for record in records],
                [record.reply_text for record in records],
                [record.vendor_message_id for record in records],
                [record.maybe_delivered for record in records],
            )


def _row_order(item: _Claim | AttemptRecord) -> int:
    # PostgreSQL orders uuids by their 16 bytes, which is the order of their value as an integer.
    return item.message_id.int


def _settle(group: list[_Waiting], failure: BaseException | None = None) -> None:
    for waiting in group:
        if waiting.written.done():
            continue
        if failure is None:
            waiting.written.set_result(None)
        else:
            waiting.written.set_exception(failure)


def _claimed(claim: _Claim, maybe_delivered: bool) -> Claimed:
    return Claimed(
        AttemptRecord.claim(claim.message_id, claim.server_id, claim.attempt, maybe_delivered=maybe_delivered)
    )


def _record_of(row: asyncpg.Record) -> AttemptRecord:
    return AttemptRecord(**{**dict(row), "state": AttemptState(row["state"])})
