"""Background tasks that never die quietly: every failure is logged, counted and retried.

A service's periodic chores (pruning old rows, sweeping for stuck work, relaying an outbox)
run beside its consumers. A bare `asyncio.create_task(loop())` whose loop raises once is gone
for good, and nothing says so; `supervise` wraps such a loop so that an error (the database is
restarting, the broker is away) is logged in a line a person can act on, counted in
`sendpool_background_task_failures_total{task}`, and retried with a growing pause.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

import structlog
from prometheus_client import Counter

from shared.metrics import REGISTRY

log = structlog.get_logger("background")

BACKGROUND_FAILURES = Counter(
    "sendpool_background_task_failures_total",
    "Rounds of a background task (sweepers, outbox relays, clean-ups) that failed and will be retried.",
    ["task"],
    registry=REGISTRY,
)


async def repeat(
    task: str,
    round_: Callable[[], Awaitable[object]],
    *,
    every_seconds: float,
    max_backoff_seconds: float = 60.0,
) -> None:
    """Run `round_` every `every_seconds` for ever; a round that fails is retried sooner or later,
    never abandoned.

    After a failure the next round comes after a pause that doubles from one second up to
    `max_backoff_seconds` (or `every_seconds`, if that is shorter), so a long outage costs one
    log line per pause rather than a hot loop.
    """
    await _supervised(
        task, round_, every_seconds=every_seconds, max_pause=min(max_backoff_seconds, max(every_seconds, 1.0))
    )


async def until_done(
    task: str,
    round_: Callable[[], Awaitable[object]],
    *,
    max_backoff_seconds: float = 60.0,
    **context: object,
) -> None:
    """Run `round_` until it succeeds once, retrying a failure as `repeat` does (`context` goes into
    the log lines, say the id of what the task works on; the metric's label is `task` alone)."""
    await _supervised(task, round_, every_seconds=None, max_pause=max_backoff_seconds, context=context)


async def _supervised(
    task: str,
    round_: Callable[[], Awaitable[object]],
    *,
    every_seconds: float | None,
    max_pause: float,
    context: Mapping[str, object] | None = None,
) -> None:
    failures = 0
    while True:
        try:
            await round_()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            BACKGROUND_FAILURES.labels(task=task).inc()
            pause = min(2 ** (failures - 1), max_pause)
            log.warning(
                "background task round failed; retrying",
                task=task,
                error=repr(exc),
                failures_in_a_row=failures,
                retry_in_seconds=pause,
                **(context or {}),
            )
            await asyncio.sleep(pause)
            continue
        if failures:
            log.info("background task recovered", task=task, after_failures=failures, **(context or {}))
            failures = 0
        if every_seconds is None:
            return
        await asyncio.sleep(every_seconds)


class BackgroundTasks:
    """The supervised tasks of one process, started with the service and cancelled with it."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def repeat(self, task: str, round_: Callable[[], Awaitable[object]], *, every_seconds: float) -> None:
        self._tasks.append(asyncio.create_task(repeat(task, round_, every_seconds=every_seconds), name=task))

    def run(self, task: str, loop: Callable[[], Awaitable[None]]) -> None:
        """A task that loops by itself (and handles its own errors); restarted if it ever returns
        or raises."""

        async def forever() -> None:
            await repeat(task, loop, every_seconds=1.0)

        self._tasks.append(asyncio.create_task(forever(), name=task))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
