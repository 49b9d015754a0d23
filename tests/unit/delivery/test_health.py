"""Server health with its ports faked: announcements, the queue switched off and on, probes."""

import asyncio
from dataclasses import dataclass, field
from uuid import UUID, uuid4

from services.delivery.app.health import ServerHealth
from services.delivery.app.ports import ServerSender, UnusableServer
from services.delivery.domain.circuit import CircuitPolicy
from services.delivery.domain.outcomes import Deferred, Sent
from shared.contracts import ProbeResult, ServerHealthEvent

SERVER = uuid4()
COOLDOWN = 0.05
UNREACHABLE = Deferred(None, None, "could not open a connection: Connection refused", connection_failure=True)


@dataclass
class Announcements:
    events: list[ServerHealthEvent] = field(default_factory=list)
    fail: bool = False

    async def publish_health(self, event: ServerHealthEvent) -> None:
        if self.fail:
            raise ConnectionError("broker gone")
        self.events.append(event)


@dataclass
class Switch:
    served: set[UUID] = field(default_factory=lambda: {SERVER})
    changes: list[tuple[str, UUID]] = field(default_factory=list)

    async def circuit_opened(self, server_id: UUID, reason: str) -> None:
        self.changes.append(("opened", server_id))

    async def circuit_closed(self, server_id: UUID) -> None:
        self.changes.append(("closed", server_id))

    def serves(self, server_id: UUID) -> bool:
        return server_id in self.served


@dataclass
class CircuitGauge:
    """The gauge as the metrics adapter keeps it: server -> 1 open, 0 closed; absent when forgotten."""

    values: dict[UUID, int] = field(default_factory=dict)
    task_failures: list[str] = field(default_factory=list)

    def background_task_failed(self, task: str) -> None:
        self.task_failures.append(task)

    def circuit_opened(self, server_id: UUID) -> None:
        self.values[server_id] = 1

    def circuit_closed(self, server_id: UUID) -> None:
        self.values[server_id] = 0

    def circuit_forgotten(self, server_id: UUID) -> None:
        self.values.pop(server_id, None)


@dataclass
class ProbedSender:
    results: list[ProbeResult]
    probes: int = 0
    errors: list[Exception] = field(default_factory=list)
    """Raised by the next probes, one each, before any result."""

    async def send(self, message): ...

    async def probe(self) -> ProbeResult:
        self.probes += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.results.pop(0) if len(self.results) > 1 else self.results[0]

    async def close(self) -> None: ...


@dataclass
class Senders:
    sender: ProbedSender
    unusable: bool = False

    async def sender_for(self, server_id: UUID) -> ServerSender:
        if self.unusable:
            raise UnusableServer("the catalog has no connection settings for it")
        return ServerSender(self.sender, None)


FAILED_PROBE = ProbeResult(ok=False, message="Connection failed: Connection refused")
PASSED_PROBE = ProbeResult(ok=True, message="Connection successful.")


def health_with(*probe_results: ProbeResult, unusable: bool = False, gauge: CircuitGauge | None = None):
    announcements, switch = Announcements(), Switch()
    sender = ProbedSender(list(probe_results))
    health = ServerHealth(
        "smtp",
        CircuitPolicy(failure_threshold=3, cooldown_seconds=COOLDOWN),
        publisher=announcements,
        switch=switch,
        senders=Senders(sender, unusable),
        metrics=gauge or CircuitGauge(),
    )
    return health, announcements, switch, sender


async def until(condition, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_the_threshold_th_failure_announces_the_server_unhealthy_and_stops_its_queue():
    health, announcements, switch, _ = health_with(FAILED_PROBE)

    for _ in range(3):
        health.observe(SERVER, UNREACHABLE)
    await until(lambda: switch.changes)

    [event] = announcements.events
    assert (event.server_id, event.vendor, event.healthy) == (SERVER, "smtp", False)
    assert event.reason == "could not open a connection: Connection refused"
    assert event.consecutive_failures == 3
    assert event.routing_key == f"server.{SERVER}"
    assert switch.changes == [("opened", SERVER)]
    await health.close()


async def test_fewer_failures_or_failures_broken_by_a_success_change_nothing():
    health, announcements, switch, _ = health_with(FAILED_PROBE)

    for outcome in (UNREACHABLE, UNREACHABLE, Sent("Q1", 250, "Ok"), UNREACHABLE, UNREACHABLE):
        health.observe(SERVER, outcome)
    await asyncio.sleep(COOLDOWN)

    assert announcements.events == [] and switch.changes == []


async def test_after_the_cool_down_a_passing_probe_resumes_the_queue_and_announces_the_server_healthy():
    health, announcements, switch, sender = health_with(FAILED_PROBE, PASSED_PROBE)

    for _ in range(3):
        health.observe(SERVER, UNREACHABLE)
    await until(lambda: ("closed", SERVER) in switch.changes)

    assert sender.probes == 2
    assert [event.healthy for event in announcements.events] == [False, False, True]
    assert announcements.events[1].reason == "Connection failed: Connection refused", (
        "a failed probe says why"
    )
    assert switch.changes == [("opened", SERVER), ("closed", SERVER)]
    assert health.circuit_of(SERVER).lets_messages_through


async def test_probing_stops_once_the_server_is_no_longer_served():
    health, _, switch, sender = health_with(FAILED_PROBE)
    for _ in range(3):
        health.observe(SERVER, UNREACHABLE)
    await until(lambda: sender.probes >= 1)

    switch.served.clear()
    await asyncio.sleep(COOLDOWN * 3)
    probes = sender.probes
    await asyncio.sleep(COOLDOWN * 3)

    assert sender.probes == probes
    assert health.circuit_of(SERVER) is None


async def test_a_server_without_settings_counts_as_a_failed_probe():
    health, announcements, _, _ = health_with(PASSED_PROBE, unusable=True)  # the catalog lost the server
    for _ in range(3):
        health.observe(SERVER, UNREACHABLE)

    await until(lambda: len(announcements.events) >= 2)

    assert not announcements.events[1].healthy
    assert "no connection settings" in announcements.events[1].reason
    await health.close()


async def test_an_announcement_that_cannot_be_published_does_not_keep_the_queue_running():
    health, announcements, switch, _ = health_with(FAILED_PROBE)
    announcements.fail = True

    for _ in range(3):
        health.observe(SERVER, UNREACHABLE)
    await until(lambda: switch.changes)

    assert switch.changes == [("opened", SERVER)]
    await health.close()


async def test_the_circuit_gauge_is_1_while_open_and_0_once_closed():
    gauge = CircuitGauge()
    health, _, switch, _ = health_with(FAILED_PROBE, PASSED_PROBE, gauge=gauge)

    health.observe(SERVER, UNREACHABLE)
    health.observe(SERVER, UNREACHABLE)
    assert gauge.values == {}, "a closed circuit that never opened has nothing to report"
    health.observe(SERVER, UNREACHABLE)
    assert gauge.values == {SERVER: 1}
    await until(lambda: ("closed", SERVER) in switch.changes)

    assert gauge.values == {SERVER: 0}


async def test_the_circuit_gauge_forgets_a_server_no_longer_served():
    gauge = CircuitGauge()
    health, _, switch, sender = health_with(FAILED_PROBE, gauge=gauge)
    for _ in range(3):
        health.observe(SERVER, UNREACHABLE)
    await until(lambda: sender.probes >= 1)
    assert gauge.values == {SERVER: 1}

    switch.served.clear()
    await until(lambda: health.circuit_of(SERVER) is None)

    assert gauge.values == {}


async def test_a_probe_that_raises_is_logged_counted_and_tried_again_until_the_circuit_closes():
    gauge = CircuitGauge()
    health, announcements, switch, sender = health_with(PASSED_PROBE, gauge=gauge)
    sender.errors.append(RuntimeError("a bug in the probe"))

    for _ in range(3):
        health.observe(SERVER, UNREACHABLE)
    await until(lambda: ("closed", SERVER) in switch.changes)

    assert sender.probes == 2
    assert gauge.task_failures == ["circuit-recovery"]
    assert gauge.values[SERVER] == 0
    assert health.circuit_of(SERVER).lets_messages_through
    assert announcements.events[-1].healthy


async def test_a_queue_that_will_not_restart_is_tried_again_after_the_probe_passed():
    gauge = CircuitGauge()
    health, announcements, switch, _ = health_with(PASSED_PROBE, gauge=gauge)
    real_closed, failures = switch.circuit_closed, [ConnectionError("broker gone")]

    async def flaky_closed(server_id):
        if failures:
            raise failures.pop()
        await real_closed(server_id)

    switch.circuit_closed = flaky_closed
    for _ in range(3):
        health.observe(SERVER, UNREACHABLE)
    await until(lambda: ("closed", SERVER) in switch.changes)

    assert gauge.task_failures == ["circuit-recovery"]
    assert announcements.events[-1].healthy
