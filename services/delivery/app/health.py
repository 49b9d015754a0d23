"""Server health: a circuit breaker per server, announced to the router and acted on here.

When a server's circuit opens, the worker announces it unhealthy on `sendpool.health` (the
router stops choosing it and drains its queue to the campaigns' other servers) and stops
consuming its queue. After each cool-down it probes the server; when a probe connects, it
consumes the queue again and announces the server healthy. Every failed probe repeats the
unhealthy announcement, so a router that started in the meantime learns it too.

The reaction runs in a task of its own: a message handler that opens a circuit must not wait
for its own queue to stop. That task must not die quietly, or the server would stay out of
service for good: whatever goes wrong in it (a probe that raises, the queue that will not stop or
start) is logged, counted in `sendpool_background_task_failures_total{task="circuit-recovery"}`,
and tried again after a pause; a probe that raises counts as a failed probe.
"""

import asyncio
import time
from collections.abc import Callable
from uuid import UUID

import structlog

from services.delivery.app.ports import (
    CatalogUnavailable,
    CircuitMetrics,
    CircuitSwitch,
    HealthPublisher,
    SenderLookup,
    UnusableServer,
)
from services.delivery.domain.circuit import Circuit, CircuitPolicy, CircuitState
from services.delivery.domain.outcomes import SendOutcome
from shared.contracts import ProbeResult, ServerHealthEvent

log = structlog.get_logger("delivery.health")

RECOVERY_TASK = "circuit-recovery"
MAX_RECOVERY_PAUSE_SECONDS = 300.0
"""The longest pause before a recovery that went wrong starts again."""


class ServerHealth:
    def __init__(
        self,
        vendor: str,
        policy: CircuitPolicy,
        *,
        publisher: HealthPublisher,
        switch: CircuitSwitch,
        senders: SenderLookup,
        metrics: CircuitMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._vendor = vendor
        self._policy = policy
        self._publisher = publisher
        self._switch = switch
        self._senders = senders
        self._metrics = metrics
        self._clock = clock
        self._circuits: dict[UUID, Circuit] = {}
        self._recoveries: dict[UUID, asyncio.Task[None]] = {}

    def observe(self, server_id: UUID, outcome: SendOutcome) -> None:
        circuit = self._circuits.setdefault(server_id, Circuit(self._policy))
        if circuit.observe(outcome, self._clock()):
            log.warning(
                "circuit opened: server unreachable",
                server_id=str(server_id),
                consecutive_failures=circuit.consecutive_failures,
                reason=circuit.last_failure,
            )
            self._metrics.circuit_opened(server_id)
            self._recoveries[server_id] = asyncio.create_task(
                self._recover(server_id, circuit), name=f"recover-{server_id}"
            )

    def circuit_of(self, server_id: UUID) -> Circuit | None:
        return self._circuits.get(server_id)

    async def close(self) -> None:
        """Stop probing (on shutdown); circuits are in memory and start closed in the next process."""
        tasks = list(self._recoveries.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _recover(self, server_id: UUID, circuit: Circuit) -> None:
        """Take the server out of service, probe it after each cool-down, put it back once it answers.

        Nothing that goes wrong ends this before the server is back or gone: each error is logged
        and counted, and the recovery goes on from where it stood after a pause that grows.
        """
        taken_out = False
        failures = 0
        try:
            while True:
                try:
                    if not taken_out:
                        await self._announce(server_id, circuit, healthy=False)
                        await self._switch.circuit_opened(server_id, circuit.last_failure)
                        taken_out = True
                    await self._probe_until_back(server_id, circuit)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failures += 1
                    pause = min(
                        self._policy.cooldown_seconds * 2 ** (failures - 1), MAX_RECOVERY_PAUSE_SECONDS
                    )
                    self._metrics.background_task_failed(RECOVERY_TASK)
                    log.exception(
                        "server recovery hit an error; trying again after a pause. The server is not sent "
                        "through until a probe passes; if this repeats, the error above is a bug to report",
                        server_id=str(server_id),
                        failures=failures,
                        retry_in_seconds=pause,
                        circuit=circuit.state.value,
                    )
                    if circuit.state is CircuitState.HALF_OPEN:  # the probe itself raised: it did not pass
                        circuit.probe_failed(f"the probe failed with an error: {exc!r}", self._clock())
                    await asyncio.sleep(pause)
        finally:
            self._recoveries.pop(server_id, None)

    async def _probe_until_back(self, server_id: UUID, circuit: Circuit) -> None:
        """Probe after each cool-down until a probe passes and the server is back, or it is no longer served."""
        while self._switch.serves(server_id):
            # A probe passed, but putting the server back failed: only that is left to do.
            if circuit.state is not CircuitState.CLOSED:
                await asyncio.sleep(max((circuit.probe_at or 0) - self._clock(), 0))
                if not circuit.start_probe(self._clock()):
                    continue
                result = await self._probe(server_id)
                if not result.ok:
                    circuit.probe_failed(result.message, self._clock())
                    await self._announce(server_id, circuit, healthy=False)
                    continue
                circuit.probe_succeeded()
            self._metrics.circuit_closed(server_id)
            await self._switch.circuit_closed(server_id)
            await self._announce(server_id, circuit, healthy=True)
            log.info("circuit closed: server reachable again", server_id=str(server_id))
            return
        self._circuits.pop(server_id, None)  # the server is gone: nothing left to recover
        self._metrics.circuit_forgotten(server_id)

    async def _probe(self, server_id: UUID) -> ProbeResult:
        try:
            server = await self._senders.sender_for(server_id)
            return await server.sender.probe()
        except (UnusableServer, CatalogUnavailable) as exc:
            return ProbeResult(ok=False, message=f"Connection failed: {exc}")

    async def _announce(self, server_id: UUID, circuit: Circuit, *, healthy: bool) -> None:
        event = ServerHealthEvent(
            server_id=server_id,
            vendor=self._vendor,
            healthy=healthy,
            reason="" if healthy else circuit.last_failure,
            consecutive_failures=circuit.consecutive_failures,
        )
        try:
            await self._publisher.publish_health(event)
        except Exception:  # announced again after the next probe; the queue is stopped meanwhile anyway
            log.exception("server health not announced", server_id=str(server_id), healthy=healthy)
