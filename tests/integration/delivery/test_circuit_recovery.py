"""A circuit's recovery against a real SMTP server: an error in it is logged, counted and tried again,
never left to keep the server out of service for good."""

import asyncio
from dataclasses import dataclass, field
from uuid import UUID, uuid4

from services.delivery.adapters.metrics import PrometheusDeliveryMetrics
from services.delivery.adapters.smtp import SmtpOptions, SmtpSender, SmtpSettings
from services.delivery.app.health import ServerHealth
from services.delivery.app.ports import ServerSender
from services.delivery.domain.circuit import CircuitPolicy, CircuitState
from services.delivery.domain.outcomes import Deferred
from shared.contracts import ServerHealthEvent
from shared.metrics import REGISTRY
from tests.integration.delivery.harness import eventually
from tests.integration.delivery.smtp_scripts import ScriptedSink
from tests.support.egress import LOCAL_SINKS

COOLDOWN_SECONDS = 0.2
UNREACHABLE = Deferred(None, None, "could not open a connection: Connection refused", connection_failure=True)


@dataclass
class Announcements:
    events: list[ServerHealthEvent] = field(default_factory=list)

    async def publish_health(self, event: ServerHealthEvent) -> None:
        self.events.append(event)


@dataclass
class Queues:
    served: set[UUID]
    consuming: set[UUID] = field(default_factory=set)

    async def circuit_opened(self, server_id: UUID, reason: str) -> None:
        self.consuming.discard(server_id)

    async def circuit_closed(self, server_id: UUID) -> None:
        self.consuming.add(server_id)

    def serves(self, server_id: UUID) -> bool:
        return server_id in self.served


@dataclass
class FlakyLookup:
    """The real sender, but the first probe breaks with an error nobody expected (a bug, say)."""

    sender: SmtpSender
    errors_left: int = 1

    async def sender_for(self, server_id: UUID) -> ServerSender:
        if self.errors_left:
            self.errors_left -= 1
            raise RuntimeError("unexpected error while looking up the server")
        return ServerSender(self.sender, None)


def recovery_failures() -> float:
    return (
        REGISTRY.get_sample_value("sendpool_background_task_failures_total", {"task": "circuit-recovery"})
        or 0.0
    )


async def test_an_error_raised_once_by_the_probe_does_not_leave_the_circuit_open_for_good():
    server_id = uuid4()
    with ScriptedSink() as sink:
        sender = SmtpSender(
            SmtpSettings(host="127.0.0.1", port=sink.port, encryption="none"),
            SmtpOptions(timeout_seconds=5, egress=LOCAL_SINKS),
        )
        queues, announcements = Queues(served={server_id}, consuming={server_id}), Announcements()
        health = ServerHealth(
            "smtp",
            CircuitPolicy(failure_threshold=1, cooldown_seconds=COOLDOWN_SECONDS),
            publisher=announcements,
            switch=queues,
            senders=FlakyLookup(sender),
            metrics=PrometheusDeliveryMetrics("smtp"),
        )
        failures_before = recovery_failures()
        try:
            health.observe(server_id, UNREACHABLE)
            await eventually(lambda: server_id not in queues.consuming, 5, "the queue stopped")

            await eventually(lambda: server_id in queues.consuming, 10, "the queue consumed again")
            circuit = health.circuit_of(server_id)
            assert circuit is not None and circuit.state is CircuitState.CLOSED
            assert [event.healthy for event in announcements.events][-1] is True
            assert recovery_failures() == failures_before + 1
            assert sink.quits >= 1, "the probe that closed it reached the server (and said goodbye)"
        finally:
            await health.close()
            await sender.close()
            await asyncio.sleep(0)
