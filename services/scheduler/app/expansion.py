"""Expanding a run: publishing its recipients as `SendBatch` messages, batch after batch, resumably.

Each expansion batch (`expand_batch_size` recipients, read from PostgreSQL in one query) goes out
as a few `SendBatch` messages (`send_batch_size` recipients each, the content once in each), all
confirmed before the batch is recorded in one set-based write. Nothing here is done per recipient
but building its entry of the batch: no log line, no validation, no round trip. Memory holds one
expansion batch at a time, whatever the list's size.

Before it is published, each batch is checked against the tenant's suppression list, once (in
requests of at most 1000 addresses). Suppressed recipients are not published: they are recorded as
`suppressed`, with the reason, in the write that records the batch, and their `suppressed` events go
out through the outbox from that same write. No answer from the bounces service stops the
expansion where it is (the batch is not recorded, the supervisor tries again) until it answers.
"""

import asyncio
from collections.abc import Sequence
from uuid import UUID

import structlog
from opentelemetry.trace import Span

from services.scheduler.app.completion import RunCompletion
from services.scheduler.app.ports import (
    ExpansionConflict,
    ExpansionLease,
    SendPublisher,
    Store,
    SuppressionList,
)
from services.scheduler.domain.campaign import RunState
from shared import tracing
from shared.contracts import SendBatch, utcnow
from shared.suppression import SuppressionUnavailable

log = structlog.get_logger("scheduler.expansion")


class Expander:
    def __init__(
        self,
        store: Store,
        publisher: SendPublisher,
        completion: RunCompletion,
        suppression: SuppressionList,
        *,
        batch_size: int,
        send_batch_size: int,
        lease: ExpansionLease,
    ) -> None:
        """`batch_size` recipients are read and recorded together; they are published in messages of
        `send_batch_size` recipients."""
        self._store = store
        self._publisher = publisher
        self._completion = completion
        self._suppression = suppression
        self._batch_size = batch_size
        self._send_batch_size = send_batch_size
        self._lease = lease

    async def expand(self, run_id: UUID) -> None:
        """Publishes the run's recipients after its cursor until the list ends or the campaign stops.

        Under the run's lease, renewed with every batch, so two replicas never expand one run at
        once; released at the end, so that a replica resuming the campaign need not wait for it.
        """
        try:
            await self._expand(run_id)
        finally:
            async with self._store.transaction() as repo:
                await repo.release_expansion(run_id, self._lease.holder)

    async def _expand(self, run_id: UUID) -> None:
        """A batch is recorded only after the broker confirmed all of it, so a crash in between
        publishes the batch again on restart, with the same message ids."""
        while True:
            async with self._store.transaction() as repo:
                batch = await repo.next_expansion_batch(run_id, self._batch_size, self._lease)
            if batch is None:  # not running, expanded already, or another replica holds the lease
                return
            if batch.is_empty:
                async with self._store.transaction() as repo:
                    await repo.finish_expansion(run_id)
                break
            suppressed = await self._suppression.suppressed(batch.tenant_id, batch.addresses)
            # The check may have taken a while: if the lease ran out meanwhile, another replica may
            # have this batch, and a stopped campaign must not get it. Renewed, the lease covers the publish.
            async with self._store.transaction() as repo:
                if not await repo.renew_expansion(run_id, self._lease):
                    return
            now = utcnow()
            messages = batch.send_batches(self._send_batch_size, first_attempt_at=now, suppressed=suppressed)
            # Each recipient's trace starts here, its trace id the message id (`shared.tracing`).
            with tracing.message_spans(
                "scheduler.expand",
                (recipient for message in messages for recipient in message.recipients),
                attributes={"sendpool.campaign_id": str(batch.campaign_id)},
            ) as spans:
                if spans:
                    messages = _with_traceparents(messages, spans)
                if messages:
                    await self._publisher.publish_batches(messages)
            async with self._store.transaction() as repo:
                state = await repo.record_expansion(
                    batch, batch.suppressed_events(suppressed, occurred_at=now)
                )
            log.debug(
                "batch expanded",
                run_id=str(run_id),
                cursor=batch.next_cursor,
                size=len(batch.recipients),
                suppressed=len(suppressed),
                messages=len(messages),
            )
            if state is not RunState.EXPANDING:
                break
        log.info("run expanded", run_id=str(run_id))
        # Status events may all have arrived before the last batch was recorded.
        await self._completion.check([run_id])


def _with_traceparents(messages: list[SendBatch], spans: Sequence[Span]) -> list[SendBatch]:
    """`messages` with each recipient published from its span (`spans`, in the recipients' order)."""
    traceparents = iter([tracing.traceparent_of(span) for span in spans])
    return [
        message.model_copy(
            update={
                "recipients": [
                    recipient.model_copy(update={"traceparent": next(traceparents)})
                    for recipient in message.recipients
                ]
            }
        )
        for message in messages
    ]


class ExpansionSupervisor:
    """Keeps one background expansion per run, retrying after failures until the run is expanded."""

    def __init__(
        self,
        expander: Expander,
        store: Store,
        *,
        retry_pause: float,
        max_retry_pause: float = 30.0,
    ) -> None:
        self._expander = expander
        self._store = store
        self._retry_pause = retry_pause
        self._max_retry_pause = max_retry_pause
        self._tasks: dict[UUID, asyncio.Task[None]] = {}
        self._wanted: set[UUID] = set()

    def start(self, run_id: UUID) -> None:
        """Expands the run in the background; if it is being expanded already, checks it once more after."""
        self._wanted.add(run_id)
        if run_id not in self._tasks:
            self._tasks[run_id] = asyncio.create_task(self._keep_expanding(run_id), name=f"expand-{run_id}")

    async def start_unfinished(self) -> None:
        """Picks up the runs a previous process left half expanded, from their cursors.

        Run at start-up and then periodically (a supervised background task): a run whose expanding
        replica died or was stopped is taken over once its lease has run out."""
        async with self._store.transaction() as repo:
            run_ids = await repo.runs_to_expand()
        new = [run_id for run_id in run_ids if run_id not in self._tasks]
        for run_id in new:
            self.start(run_id)
        if new:
            log.info("resuming expansions", runs=len(new))

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _keep_expanding(self, run_id: UUID) -> None:
        pause = self._retry_pause
        try:
            # A start() during an expansion (a resume racing the stop it follows) asks for one more
            # pass, because the running pass may already have seen the campaign stopped.
            while run_id in self._wanted:
                self._wanted.discard(run_id)
                try:
                    await self._expander.expand(run_id)
                except ExpansionConflict:
                    log.warning(
                        "another expander moved the run's cursor; leaving the run to it", run_id=str(run_id)
                    )
                except Exception as exc:
                    if isinstance(exc, SuppressionUnavailable):
                        # Nothing of the batch went out: the run waits until the bounces service answers.
                        log.warning(
                            "suppression check unanswered; expansion waits",
                            run_id=str(run_id),
                            reason=str(exc),
                        )
                    else:
                        log.error(
                            "expansion failed; will retry", run_id=str(run_id), error=repr(exc), pause=pause
                        )
                    self._wanted.add(run_id)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, self._max_retry_pause)
                else:
                    pause = self._retry_pause
        finally:
            # No await between the loop's last check and here, so a start() cannot slip in unseen.
            self._tasks.pop(run_id, None)
