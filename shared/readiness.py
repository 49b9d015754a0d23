"""`GET /readyz`: whether a replica can do its work now, for Kubernetes' readiness probe.

`/healthz` is liveness: the broker connection is alive, and failing it restarts the pod, which
no database outage should do. `/readyz` is 204 only while

- the replica has finished starting: every condition of its `StartupGate` is met (its migrations
  applied, its subscribers consuming, its start-up hooks done, and what a service adds, such as the
  catalog snapshot the router and the delivery workers route and send by),
- it is not shutting down (draining the messages in hand), and
- it reaches its database (`SELECT 1` within a short time-out) and its broker connection is open.

Otherwise it is 503 with a JSON body naming what is missing, so Kubernetes stops sending HTTP
requests to a replica that cannot answer them and an operator sees why at a glance:

    {"ready": false, "waiting_for": {"catalog_snapshot": "not loaded yet"}}
    {"ready": false, "unreachable": {"database": "ConnectionRefusedError: ..."}}
    {"ready": false, "stopping": "shutting down: finishing the messages in hand, taking no more"}

The dependencies' verdict is kept for `CACHE_SECONDS`, and probes arriving while a check runs
share it, so probes from several sources cost one query a second or two at most. The gate is read
afresh on every probe (it is a few names in memory), so a replica is ready the moment it has
started and stops being ready the moment it begins to stop.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
from faststream.asgi import AsgiResponse, HttpHandler, get
from faststream.asgi.response import JSONResponse
from faststream.rabbit import RabbitBroker

ReadinessCheck = Callable[[], Awaitable[str | None]]
"""Answers None when its dependency is reachable, or a short reason why it is not."""

CHECK_TIMEOUT_SECONDS = 2.0
"""How long one check may take before its dependency counts as unreachable (the probe waits 6 s)."""
CACHE_SECONDS = 1.5
"""How long a verdict is reused."""


class DatabaseCheck:
    """`SELECT 1` over a connection of its own, opened on first use and again after a failure.

    Its own connection rather than one from the service's pool: a pool that is exhausted by
    busy handlers is no outage, and the check must not queue behind them (nor take one from them).
    """

    def __init__(self, database_url: str, timeout: float = CHECK_TIMEOUT_SECONDS) -> None:
        self._database_url = database_url
        self._timeout = timeout
        self._connection: asyncpg.Connection | None = None

    async def __call__(self) -> str | None:
        try:
            async with asyncio.timeout(self._timeout):
                if self._connection is None or self._connection.is_closed():
                    self._connection = await asyncpg.connect(self._database_url)
                await self._connection.fetchval("SELECT 1")
        except Exception as exc:  # whatever it is, the database cannot be used now
            await self.close()
            if isinstance(exc, TimeoutError):
                return f"no answer to SELECT 1 within {self._timeout:g}s"
            return f"{type(exc).__name__}: {exc}"[:300]
        return None

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()  # no goodbye over a connection that may be half dead


def broker_check(broker: RabbitBroker) -> ReadinessCheck:
    """The broker's connection is open (FastStream's ping: a connection that is re-opening gets
    `CHECK_TIMEOUT_SECONDS` to come back)."""

    async def check() -> str | None:
        if await broker.ping(timeout=CHECK_TIMEOUT_SECONDS):
            return None
        return "the broker connection is not open"

    return check


STOPPING = "shutting down: finishing the messages in hand, taking no more"


class StartupGate:
    """What a replica still waits for before it can do its work, by name, and whether it is stopping.

    Whoever builds a part with start-up state names a condition (`wait_for`) and marks it `done`
    once met; `/readyz` lists the conditions not met yet under `waiting_for`, with their reasons.
    A condition may be named again later (a snapshot to load again), and `stop` is for good: a
    stopping replica is never ready again.
    """

    def __init__(self, **waiting_for: str) -> None:
        self._waiting: dict[str, str] = dict(waiting_for)
        self._stopping: str | None = None

    def wait_for(self, name: str, reason: str) -> None:
        self._waiting[name] = reason

    def done(self, name: str) -> None:
        self._waiting.pop(name, None)

    def stop(self, reason: str = STOPPING) -> None:
        self._stopping = reason

    @property
    def waiting_for(self) -> dict[str, str]:
        """The conditions not met yet, by name, each with why (empty once started)."""
        return dict(self._waiting)

    @property
    def stopping(self) -> str | None:
        """Why the replica takes no more work, once it has begun to stop."""
        return self._stopping


class Readiness:
    """Runs every check (side by side), caches the verdict, and answers `/readyz` with it and the gate."""

    def __init__(
        self,
        checks: Mapping[str, ReadinessCheck],
        *,
        gate: StartupGate | None = None,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self._checks = dict(checks)
        self.gate = gate if gate is not None else StartupGate()
        self._cache_seconds = cache_seconds
        self._verdict: dict[str, str] = {}
        self._checked_at = float("-inf")
        self._checking = asyncio.Lock()

    async def unreachable(self) -> dict[str, str]:
        """What cannot be reached now, by name (empty when ready)."""
        if time.monotonic() - self._checked_at < self._cache_seconds:
            return self._verdict
        async with self._checking:
            if time.monotonic() - self._checked_at >= self._cache_seconds:
                names = list(self._checks)
                reasons = await asyncio.gather(*(self._checks[name]() for name in names))
                self._verdict = {name: reason for name, reason in zip(names, reasons, strict=True) if reason}
                self._checked_at = time.monotonic()
        return self._verdict

    async def missing(self) -> dict[str, Any]:
        """What keeps the replica from being ready, as `/readyz` reports it (empty when ready)."""
        missing: dict[str, Any] = {}
        if stopping := self.gate.stopping:
            missing["stopping"] = stopping
        if waiting_for := self.gate.waiting_for:
            missing["waiting_for"] = waiting_for
        if unreachable := await self.unreachable():
            missing["unreachable"] = unreachable
        return missing

    async def close(self) -> None:
        for check in self._checks.values():
            close = getattr(check, "close", None)
            if close is not None:
                await close()

    def asgi(self) -> HttpHandler:
        """The `/readyz` route for `AsgiFastStream`."""

        @get(include_in_schema=False)
        async def readyz(scope: Any) -> AsgiResponse:
            missing = await self.missing()
            if not missing:
                return AsgiResponse(b"", 204)
            return JSONResponse({"ready": False, **missing}, 503)

        return readyz
