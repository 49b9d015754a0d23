"""Transient faults: errors that say a dependency is unreachable, not that a message is bad.

A PostgreSQL restart or a RabbitMQ failover fails every message in flight for as long as it
lasts, through no fault of the messages. Requeueing them spends the delivery limit meant for
poison messages (ten deliveries, a second or two apart), and a 20-second outage would leave its
messages in `sendpool.dead`. So `shared.messaging` retries a message that failed this way inside
its consumer, with exponential backoff, for up to `SENDPOOL_TRANSIENT_RETRY_SECONDS`.

This module says which errors are transient (`transient_fault`) and keeps, per broker, what its
consumers are waiting out (`TransientFaults`): one log line a person can act on, rate-limited
however many messages wait, and the metric `sendpool_transient_retries_total{service, fault}`.
"""

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiormq.exceptions
import asyncpg
import psycopg
import structlog
from prometheus_client import Counter

from shared.metrics import REGISTRY

log = structlog.get_logger("messaging.transient")

FIRST_PAUSE_SECONDS = 0.5
"""The first wait after a transient failure; each further wait doubles."""
MAX_PAUSE_SECONDS = 30.0
"""The longest wait between two tries, so a dependency that is back is used again within 30 s."""
LOG_EVERY_SECONDS = 30.0
"""At most one "still unreachable" line per broker this often, however many messages wait."""
OUTAGE_OVER_AFTER_SECONDS = 2 * MAX_PAUSE_SECONDS
"""No transient failure for this long and the next one starts a new outage (a fresh budget)."""

TRANSIENT_RETRIES = Counter(
    "sendpool_transient_retries",
    "Handler calls tried again in the consumer after a transient fault (database or broker "
    "unreachable, time-out), without spending the message's delivery limit.",
    ["service", "fault"],
    registry=REGISTRY,
)


class TransientFault(Exception):
    """Base for a service's own exception that means "a dependency is unreachable, try later".

    The shared layer cannot import the services' exceptions, so a service marks its own (say, a
    catalog request that timed out) by deriving from this class; `transient_fault` knows it then.
    """

    fault = "dependency"


# Operator intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now) is what
# a PostgreSQL restart or failover raises; 57014 (query cancelled, e.g. a statement timeout) is a
# property of the query, not of the server's reachability, so it stays an ordinary failure.
_PG_UNREACHABLE = (
    asyncpg.PostgresConnectionError,  # class 08: ConnectionDoesNotExistError, ConnectionFailureError, ...
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)
# Errors of the local file system are OSErrors too, but no outage ends them.
_LOCAL_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
_LOCAL_ERRNOS = {errno.ENOSPC, errno.EMFILE, errno.ENFILE, errno.EROFS}


def transient_fault(exc: BaseException) -> str | None:
    """What is unreachable if `exc` is a transient fault (`database`, `broker`, `network`,
    `timeout`, or a `TransientFault`'s own), or None for an error to treat as the message's.

    An exception raised `from` another (`raise Unavailable(...) from exc`) is judged by its cause
    too; the implicit context is not followed, since an error raised while handling a connection
    error is not necessarily one.
    """
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        fault = _own_fault(current)
        if fault is not None:
            return fault
        current, seen = current.__cause__, seen + 1
    return None


def _own_fault(exc: BaseException) -> str | None:
    if isinstance(exc, TransientFault):
        return exc.fault
    if isinstance(exc, _PG_UNREACHABLE):
        return "database"
    if isinstance(exc, asyncpg.InterfaceError):
        # "connection is closed", "pool is closing": the connection went away under the query.
        # Other interface errors ("another operation is in progress") are bugs, not outages.
        text = str(exc).lower()
        return "database" if "connection is closed" in text or "pool is clos" in text else None
    if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, psycopg.errors.QueryCanceled):
        return "database"
    if isinstance(exc, aiormq.exceptions.AMQPConnectionError | aiormq.exceptions.ChannelInvalidStateError):
        return "broker"
    # A channel closed because its connection went away; its subclasses (404 not found, 406
    # precondition failed, 403 access refused) are the broker refusing an operation, not outages.
    if type(exc) is aiormq.exceptions.ChannelClosed:
        return "broker"
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError since Python 3.11
        return "timeout"
    if isinstance(exc, OSError) and not isinstance(exc, _LOCAL_OS_ERRORS) and exc.errno not in _LOCAL_ERRNOS:
        # Connection refused or reset, host unreachable, name resolution failed, and the errno-less
        # "Multiple exceptions: [Errno 111] Connect call failed" asyncio raises for several addresses.
        return "network"
    return None


@dataclass
class _Outage:
    """Transient failures of one broker's consumers with no retried message succeeding between them."""

    started: float
    last_failure: float
    faults: dict[str, str]
    """Each fault seen (database, broker, ...) with its latest error, for the log line."""
    last_logged: float = float("-inf")
    retries: int = 0


class TransientFaults:
    """What one broker's consumers are waiting out: budgets, the rate-limited log, the metric.

    An outage starts with the first transient failure and ends when a retried message succeeds
    (the dependency is back) or after a minute with no transient failure. Its age bounds the
    waiting: a message that starts waiting when the outage is already older than the budget
    does not wait at all, so the setting means "how long an outage may last before its messages
    go back to being retried through the queue, and on to sendpool.dead", not "per message".
    """

    def __init__(self, service: str, budget_seconds: float, *, clock: Callable[[], float] = time.monotonic):
        self.service = service
        self.budget_seconds = budget_seconds
        self._clock = clock
        self._outage: _Outage | None = None
        self.waiting = 0
        """Messages waiting to be tried again right now."""

    def now(self) -> float:
        return self._clock()

    def deadline_for_new_wait(self) -> float:
        """Until when a message that just failed transiently may keep trying (now if the outage
        already used up the budget)."""
        now = self._clock()
        outage = self._current_outage(now)
        started = outage.started if outage is not None else now
        return max(now, min(now + self.budget_seconds, started + self.budget_seconds))

    def failed(self, fault: str, exc: BaseException, *, will_retry: bool) -> None:
        """A handler call failed transiently; counted, and logged at most every LOG_EVERY_SECONDS."""
        now = self._clock()
        outage = self._current_outage(now)
        if outage is None:
            outage = self._outage = _Outage(started=now, last_failure=now, faults={})
        outage.last_failure = now
        outage.faults[fault] = f"{type(exc).__name__}: {exc}"[:300]
        if will_retry:
            outage.retries += 1
            TRANSIENT_RETRIES.labels(self.service, fault).inc()
        if now - outage.last_logged >= LOG_EVERY_SECONDS:
            outage.last_logged = now
            failing_for = now - outage.started
            unreachable = ", ".join(sorted(outage.faults))
            if failing_for < self.budget_seconds:
                what_now = (
                    f"{self.waiting} message(s) wait and retry (every {MAX_PAUSE_SECONDS:.0f}s at most) "
                    f"without spending their delivery limit, for up to {self.budget_seconds:.0f}s"
                )
            else:
                what_now = (
                    f"longer than SENDPOOL_TRANSIENT_RETRY_SECONDS ({self.budget_seconds:.0f}s): failing "
                    "messages are requeued as for any error and end in sendpool.dead after their delivery limit"
                )
            log.warning(
                f"{unreachable} unreachable for {failing_for:.0f}s: {what_now}",
                unreachable=unreachable,
                errors=dict(outage.faults),
                failing_for_seconds=round(failing_for, 1),
                waiting_messages=self.waiting,
                retries=outage.retries,
                budget_seconds=self.budget_seconds,
            )

    def recovered(self) -> None:
        """A message that had failed transiently went through: the dependency is back."""
        outage, self._outage = self._outage, None
        if outage is not None:
            log.warning(
                f"{', '.join(sorted(outage.faults))} reachable again after {self._clock() - outage.started:.0f}s",
                unreachable_for_seconds=round(self._clock() - outage.started, 1),
                retries=outage.retries,
            )

    def _current_outage(self, now: float) -> _Outage | None:
        outage = self._outage
        if outage is not None and now - outage.last_failure > OUTAGE_OVER_AFTER_SECONDS and not self.waiting:
            self._outage = outage = None
        return outage


def next_pause(previous: float | None) -> float:
    """Exponential backoff: 0.5 s, 1 s, 2 s, ... up to 30 s."""
    return FIRST_PAUSE_SECONDS if previous is None else min(previous * 2, MAX_PAUSE_SECONDS)
