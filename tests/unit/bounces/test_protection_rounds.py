"""Server protection's rounds with the catalog and the counters faked: batch-first, one pause request
per server past its limits, none for a server already paused, reports at most once per interval."""

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from services.bounces.app.protection import ServerProtection, WatchedCounters
from services.bounces.domain.reputation import ServerWindow, WindowCounts
from shared.contracts import (
    BounceHandling,
    PauseServerRequest,
    RpcError,
    ServerReputationReport,
    ServerState,
    ServerView,
)

NOW = datetime(2026, 12, 6, 7, 30, tzinfo=UTC)
LIMITS = BounceHandling(max_bounce_rate=0.05, max_complaint_rate=0.001, min_volume=100)


def server(state: ServerState = ServerState.ACTIVE, **fields) -> ServerView:
    return ServerView(
        id=fields.pop("id", uuid4()),
        name="mta-1",
        type="smtp",
        vendor="smtp",
        state=state,
        bounce_handling=LIMITS,
        **fields,
    )


@dataclass
class FakeWindows:
    windows: dict[UUID, ServerWindow] = field(default_factory=dict)
    asked: list[tuple[set[UUID], datetime]] = field(default_factory=list)
    pauses: list[tuple[UUID, datetime, str]] = field(default_factory=list)
    added: list[Counter] = field(default_factory=list)

    async def window(self, server_ids: Collection[UUID], since: datetime) -> dict[UUID, ServerWindow]:
        self.asked.append((set(server_ids), since))
        return {s: self.windows[s] for s in server_ids if s in self.windows}

    async def record_pause(self, server_id: UUID, paused_at: datetime, reason: str) -> None:
        self.pauses.append((server_id, paused_at, reason))

    async def prune(self, before: datetime) -> int:
        return 0

    async def add(self, counts: Counter) -> None:
        self.added.append(counts)


@dataclass
class FakeCatalog:
    views: dict[UUID, ServerView] = field(default_factory=dict)
    snapshots: int = 0
    paused: list[PauseServerRequest] = field(default_factory=list)
    reports: list[ServerReputationReport] = field(default_factory=list)
    refuse: str | None = None
    fail_pauses: bool = False

    async def servers(self, wanted: Collection[UUID]) -> Mapping[UUID, ServerView]:
        self.snapshots += 1
        return {s: self.views[s] for s in wanted if s in self.views}

    async def pause(self, request: PauseServerRequest) -> ServerView | RpcError:
        if self.fail_pauses:
            raise TimeoutError("the catalog did not answer")
        self.paused.append(request)
        if self.refuse:
            return RpcError(error=self.refuse)
        current = self.views[request.server_id]
        if current.state is not ServerState.PAUSED:
            current = current.model_copy(update={"state": ServerState.PAUSED, "pause_reason": request.reason})
            self.views[request.server_id] = current
        return current

    async def report(self, report: ServerReputationReport) -> None:
        self.reports.append(report)


class Clock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def window(sent: int, bounced: int = 0, complained: int = 0) -> ServerWindow:
    counts = WindowCounts(sent=sent, bounced=bounced, complained=complained)
    return ServerWindow(whole=counts, since_pause=counts)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def protection(
    windows: FakeWindows, catalog: FakeCatalog, clock: Clock, report_every: float = 60
) -> ServerProtection:
    return ServerProtection(
        windows,
        catalog,
        window_hours=24,
        report_every_seconds=report_every,
        every_seconds=5,
        now=lambda: NOW,
        monotonic=clock,
    )


async def test_a_round_judges_every_changed_server_in_one_query_and_pauses_only_those_past_a_limit(clock):
    bad, good, small = server(), server(), server()
    windows = FakeWindows({bad.id: window(500, 36), good.id: window(500, 10), small.id: window(99, 99)})
    catalog = FakeCatalog({s.id: s for s in (bad, good, small)})
    guard = protection(windows, catalog, clock)

    counters = WatchedCounters(windows, guard)
    await counters.add(Counter({(bad.id, NOW, "sent"): 1, (good.id, NOW, "sent"): 1}))
    await counters.add(Counter({(small.id, NOW, "bounced:hard"): 1, (bad.id, NOW, "sent"): 1}))
    await guard.evaluate()

    assert windows.asked == [({bad.id, good.id, small.id}, datetime(2026, 12, 5, 8, tzinfo=UTC))]
    assert catalog.snapshots == 1
    assert [(p.server_id, p.requested_by) for p in catalog.paused] == [(bad.id, "bounces")]
    assert catalog.paused[0].reason == (
        "bounce rate 7.2 % over the last 24 h (36 of 500 sent) is above this server's 5 % limit"
    )
    assert windows.pauses == [(bad.id, NOW, catalog.paused[0].reason)]
    assert {r.server_id for r in catalog.reports} == {bad.id, good.id, small.id}
    bad_report = next(r.reputation for r in catalog.reports if r.server_id == bad.id)
    assert (bad_report.sent, bad_report.bounced, bad_report.bounce_rate, bad_report.window_hours) == (
        500,
        36,
        0.072,
        24,
    )

    await guard.evaluate()  # nothing changed since: nothing asked
    assert len(windows.asked) == 1 and len(catalog.paused) == 1


async def test_a_server_the_catalog_shows_paused_or_not_active_is_not_asked_about(clock):
    paused = server(ServerState.PAUSED, pause_reason="IP listed")
    disabled = server(ServerState.DISABLED)
    windows = FakeWindows({paused.id: window(500, 300), disabled.id: window(500, 300)})
    catalog = FakeCatalog({paused.id: paused, disabled.id: disabled})
    guard = protection(windows, catalog, clock)

    guard.counted([paused.id, disabled.id])
    await guard.evaluate()

    assert catalog.paused == [] and windows.pauses == []
    assert {r.server_id for r in catalog.reports} == {paused.id, disabled.id}, "its rates are still shown"


async def test_once_paused_it_is_not_asked_again_as_its_counts_keep_changing(clock):
    bad = server()
    windows = FakeWindows({bad.id: window(500, 100)})
    catalog = FakeCatalog({bad.id: bad})
    guard = protection(windows, catalog, clock)

    for _ in range(3):
        guard.counted([bad.id])
        await guard.evaluate()

    assert len(catalog.paused) == 1


async def test_a_pause_someone_else_made_first_is_not_recorded_as_ours(clock):
    bad = server()
    windows = FakeWindows({bad.id: window(500, 100)})
    catalog = FakeCatalog({bad.id: bad})
    guard = protection(windows, catalog, clock)
    guard.counted([bad.id])
    # The view the round reads says active, but the operator paused it since: the catalog answers
    # the pause request with the server as it is, the operator's reason kept.
    catalog.servers = lambda wanted: _async({bad.id: bad})  # type: ignore[method-assign]
    catalog.views[bad.id] = bad.model_copy(update={"state": ServerState.PAUSED, "pause_reason": "operator"})

    await guard.evaluate()

    assert len(catalog.paused) == 1 and windows.pauses == []


async def _async(value):
    return value


async def test_a_refused_pause_is_logged_not_retried_in_a_loop(clock):
    bad = server()
    windows = FakeWindows({bad.id: window(500, 100)})
    catalog = FakeCatalog({bad.id: bad}, refuse=f"server {bad.id} not found")
    guard = protection(windows, catalog, clock)

    guard.counted([bad.id])
    await guard.evaluate()

    assert len(catalog.paused) == 1 and windows.pauses == []


async def test_a_catalog_that_does_not_answer_leaves_the_servers_for_the_next_round(clock):
    bad = server()
    windows = FakeWindows({bad.id: window(500, 100)})
    catalog = FakeCatalog({bad.id: bad}, fail_pauses=True)
    guard = protection(windows, catalog, clock)

    guard.counted([bad.id])
    with pytest.raises(TimeoutError):
        await guard.evaluate()  # the supervising task logs it and runs the next round

    catalog.fail_pauses = False
    await guard.evaluate()
    assert [p.server_id for p in catalog.paused] == [bad.id]


async def test_reports_go_at_most_once_per_interval_and_the_last_change_is_reported_in_the_end(clock):
    quiet = server()
    windows = FakeWindows({quiet.id: window(10, 0)})
    catalog = FakeCatalog({quiet.id: quiet})
    guard = protection(windows, catalog, clock, report_every=60)

    guard.counted([quiet.id])
    await guard.evaluate()
    assert len(catalog.reports) == 1

    clock.seconds += 10
    windows.windows[quiet.id] = window(20, 1)
    guard.counted([quiet.id])
    await guard.evaluate()
    assert len(catalog.reports) == 1, "reported 10 s ago"

    clock.seconds += 30
    await guard.evaluate()
    assert len(catalog.reports) == 1

    clock.seconds += 25  # 65 s after the first report, and nothing counted since the change
    await guard.evaluate()
    assert [r.reputation.sent for r in catalog.reports] == [10, 20]

    clock.seconds += 120
    await guard.evaluate()
    assert len(catalog.reports) == 2, "nothing changed since the last report"


async def test_a_server_without_counts_in_the_window_or_unknown_to_the_catalog_is_skipped(clock):
    unknown, empty = uuid4(), server()
    windows = FakeWindows({unknown: window(500, 500)})
    catalog = FakeCatalog({empty.id: empty})
    guard = protection(windows, catalog, clock)

    guard.counted([unknown, empty.id])
    await guard.evaluate()

    assert catalog.paused == [] and catalog.reports == []


async def test_prune_deletes_what_is_older_than_the_window(clock):
    pruned: list[datetime] = []

    class Windows(FakeWindows):
        async def prune(self, before: datetime) -> int:
            pruned.append(before)
            return 3

    guard = protection(Windows(), FakeCatalog(), clock)
    assert await guard.prune() == 3
    assert pruned == [datetime(2026, 12, 5, 8, tzinfo=UTC)]


class FakeRpc:
    """Answers snapshot requests with the servers the catalog has at the time."""

    def __init__(self) -> None:
        self.servers: list[ServerView] = []
        self.snapshots = 0

    async def request(
        self, body: bytes, *, queue: str, timeout: float, expiration: float | None = None
    ) -> bytes:
        self.snapshots += 1
        from shared.contracts import CatalogSnapshot

        return (
            CatalogSnapshot(last_event_id=1, servers=self.servers, plans=[], tenants=[])
            .model_dump_json()
            .encode()
        )


async def test_the_catalog_view_is_fetched_again_for_a_server_added_since_so_none_is_skipped():
    from services.bounces.adapters.catalog_servers import CatalogServers

    rpc = FakeRpc()
    first, added = server(), server()
    rpc.servers = [first]
    catalog = CatalogServers(rpc, None, view_seconds=60, timeout_seconds=1, report_expiry_seconds=1)  # type: ignore[arg-type]

    assert set(await catalog.servers([first.id])) == {first.id}
    assert set(await catalog.servers([first.id])) == {first.id} and rpc.snapshots == 1, "cached"

    rpc.servers = [first, added]
    assert set(await catalog.servers([first.id, added.id])) == {first.id, added.id}
    assert rpc.snapshots == 2

    deleted = uuid4()
    assert set(await catalog.servers([deleted])) == set(), "unknown to a view fetched just now"
    assert rpc.snapshots == 3
