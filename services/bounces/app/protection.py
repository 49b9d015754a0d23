"""Server protection: pause a server through the catalog once its bounce or complaint rate over the
window is past the limits set on it (`BounceHandling`), and report its rates for the pool views.

Batch-first: a counter flush only marks its servers as changed (`counted`); a round every few
seconds (`evaluate`) sums the window of every changed server in one query, reads their limits from
one cached catalog view, and asks the catalog only about the servers past a limit, one pause
request each, which is rare. A server the catalog already shows paused (or not active) is not asked
about again; its rates are still reported, at most once per `report_every_seconds` per server.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from uuid import UUID

import structlog

from services.bounces.app.ports import CounterStore, OutcomeWindows, ServerCatalog
from services.bounces.domain.outcomes import OutcomeKey, hour_of
from services.bounces.domain.reputation import PauseVerdict, judge, measure
from shared.contracts import (
    PauseServerRequest,
    RpcError,
    ServerReputationReport,
    ServerState,
    ServerView,
    utcnow,
)

log = structlog.get_logger("bounces.protection")

REQUESTED_BY = "bounces"


class ServerProtection:
    def __init__(
        self,
        windows: OutcomeWindows,
        catalog: ServerCatalog,
        *,
        window_hours: int,
        report_every_seconds: float,
        every_seconds: float,
        now: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._windows = windows
        self._catalog = catalog
        self._window_hours = window_hours
        self._report_every = report_every_seconds
        self.every_seconds = every_seconds
        """How often `evaluate` runs (`SENDPOOL_BOUNCES_PROTECTION_INTERVAL_SECONDS`)."""
        self._now = now
        self._monotonic = monotonic
        self._changed: set[UUID] = set()
        self._unreported: set[UUID] = set()
        """Changed since their last report, which was too recent to report them again."""
        self._reported_at: dict[UUID, float] = {}

    def counted(self, server_ids: Iterable[UUID]) -> None:
        """The counters of these servers changed: judge them in the next round."""
        self._changed.update(server_ids)

    def window_start(self, now: datetime) -> datetime:
        """The first hourly bucket of the window: the current hour and the `window_hours - 1` before it."""
        return hour_of(now) - timedelta(hours=self._window_hours - 1)

    async def evaluate(self) -> None:
        """One round: judge and report the servers whose counters changed since the last round."""
        clock = self._monotonic()
        due = {server_id for server_id in self._unreported if self._report_due(server_id, clock)}
        changed, self._changed = self._changed, set()
        servers = changed | due
        if not servers:
            return
        try:
            await self._evaluate(changed, servers, clock)
        except BaseException:
            # The catalog or the database is away: the supervising task retries, and the next round
            # judges these servers again.
            self._changed |= changed
            raise

    async def _evaluate(self, changed: set[UUID], servers: set[UUID], clock: float) -> None:
        now = self._now()
        views = await self._catalog.servers(servers)
        windows = await self._windows.window(servers, self.window_start(now))
        log.debug("judging servers", servers=len(servers), known=len(views), counted=len(windows))
        for server_id in sorted(servers):
            view, window = views.get(server_id), windows.get(server_id)
            if view is None or window is None:  # deleted from the catalog, or nothing counted in the window
                self._unreported.discard(server_id)
                continue
            if server_id in changed and view.state is ServerState.ACTIVE:
                counts, span = window.judged(self._window_hours)
                verdict = judge(counts, view.bounce_handling, span)
                if verdict is not None:
                    await self._pause(view, verdict, now)
            if self._report_due(server_id, clock):
                reputation = measure(window.whole, self._window_hours, now)
                await self._catalog.report(ServerReputationReport(server_id=server_id, reputation=reputation))
                self._reported_at[server_id] = clock
                self._unreported.discard(server_id)
            else:
                self._unreported.add(server_id)
        self._forget_reports_older_than(clock - self._report_every)

    async def _pause(self, view: ServerView, verdict: PauseVerdict, now: datetime) -> None:
        reply = await self._catalog.pause(
            PauseServerRequest(server_id=view.id, reason=verdict.reason, requested_by=REQUESTED_BY)
        )
        if isinstance(reply, RpcError):  # paused or disabled meanwhile, or deleted: nothing to do
            log.info("pause not needed", server_id=str(view.id), server=view.name, catalog_said=reply.error)
            return
        if reply.pause_reason != verdict.reason:  # someone else paused it first: not our pause
            log.info(
                "server already paused", server_id=str(view.id), server=view.name, reason=reply.pause_reason
            )
            return
        await self._windows.record_pause(view.id, now, verdict.reason)
        log.warning(
            f"paused server {view.name!r} ({view.id}): {verdict.reason}; find what it sent lately that "
            "caused it (a stale or bought list, mail its recipients did not ask for), then resume it with "
            f"POST /servers/{view.id}/resume",
            server_id=str(view.id),
            server=view.name,
            tenant_id=str(view.tenant_id) if view.tenant_id else None,
            reason=verdict.reason,
        )

    def _report_due(self, server_id: UUID, clock: float) -> bool:
        reported_at = self._reported_at.get(server_id)
        return reported_at is None or clock - reported_at >= self._report_every

    def _forget_reports_older_than(self, horizon: float) -> None:
        """A report older than one interval no longer holds the next one back: keep the map small."""
        for server_id in [
            s for s, at in self._reported_at.items() if at < horizon and s not in self._unreported
        ]:
            del self._reported_at[server_id]

    async def prune(self) -> int:
        """Delete the buckets older than the window: nothing reads them any more."""
        return await self._windows.prune(self.window_start(self._now()))


class WatchedCounters:
    """The outcome counters, telling server protection which servers' counts each write changed."""

    def __init__(self, store: CounterStore, protection: ServerProtection) -> None:
        self._store = store
        self._protection = protection

    async def add(self, counts: Counter[OutcomeKey]) -> None:
        await self._store.add(counts)
        self._protection.counted(server_id for server_id, _, _ in counts)
