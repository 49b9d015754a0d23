"""Server health: a circuit breaker per server, announced to the router and acted on here.

When a server's circuit opens, the worker announces it unhealthy on `sendpool.health` (the
router stops choosing it and drains its queue to the campaigns' other servers) and stops
consuming its queue. After each cool-down it probes the server; when a probe connects, it
consumes the queue again and announces the server healthy. Every failed probe repeats the
unhealthy announcement, so a router that started in the meantime learns it too.

The reaction runs in a task of its own: a message handler that opens a circuit must not wait
for its own queue to stop.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Protocol
from uuid import UUID

import structlog

from services.delivery.app.catalog import CatalogUnavailable
from services.delivery.app.sender import UnusableServer
from services.delivery.app.senders import ServerSender
from services.delivery.domain.circuit import Circuit, CircuitPolicy
from services.delivery.domain.outcomes import SendOutcome
from shared.contracts import ProbeResult, ServerHealthEvent

log = structlog.get_logger("delivery.health")


class HealthPublisher(Protocol):
    async def publish_health(self, event: ServerHealthEvent) -> None: ...


class CircuitSwitch(Protocol):
    """Where an open circuit takes effect: the queues this worker consumes."""

    async def circuit_opened(self, server_id: UUID, reason: str) -> None: ...

    async def circuit_closed(self, server_id: UUID) -> None: ...

    def serves(self, server_id: UUID) -> bool: ...


class ProbeLookup(Protocol):
    async def sender_for(self, server_id: UUID) -> ServerSender: ...


class CircuitMetrics(Protocol):
    """Which servers' circuits are open, for monitoring."""

    def circuit_opened(self, server_id: UUID) -> None: ...

    def circuit_closed(self, server_id: UUID) -> None: ...

    def circuit_forgotten(self, server_id: UUID) -> None:
        """The server is no longer served here: nothing more to report about it."""
        ...


class ServerHealth:
    def __init__(
        self,
        vendor: str,
        policy: CircuitPolicy,
        *,
        publisher: HealthPublisher,
        switch: CircuitSwitch,
        senders: ProbeLookup,
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
        try:
            await self._announce(server_id, circuit, healthy=False)
            await self._switch.circuit_opened(server_id, circuit.last_failure)
            while self._switch.serves(server_id):
                await asyncio.sleep(max((circuit.probe_at or 0) - self._clock(), 0))
                if not circuit.start_probe(self._clock()):
                    continue
                result = await self._probe(server_id)
                if result.ok:
                    circuit.probe_succeeded()
                    self._metrics.circuit_closed(server_id)
                    await self._switch.circuit_closed(server_id)
                    await self._announce(server_id, circuit, healthy=True)
                    log.info("circuit closed: server reachable again", server_id=str(server_id))
                    return
                circuit.probe_failed(result.message, self._clock())
                await self._announce(server_id, circuit, healthy=False)
            self._circuits.pop(server_id, None)  # the server is gone: nothing left to recover
            self._metrics.circuit_forgotten(server_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not leave the server silently off for good
            log.exception("server recovery failed; its circuit stays open", server_id=str(server_id))
        finally:
            self._recoveries.pop(server_id, None)

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
