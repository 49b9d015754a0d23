"""Following tenants on the public stream: bindings of the webhooks queue to `sendpool.events`."""

import asyncio
from uuid import UUID

from faststream.rabbit import RabbitBroker, RabbitQueue

from shared.errors import DependencyUnavailable
from shared.topology import EVENTS_EXCHANGE
from shared.transient import transient_fault

BIND_TIMEOUT_SECONDS = 10.0
"""How long a (un)binding may take before the broker counts as unreachable; a robust channel waits
for its reconnection otherwise, and a registration would hang that long."""
CATCH_ALL = "#"
"""The binding of earlier versions: every event of the stream."""


def tenant_binding(tenant_id: UUID) -> str:
    """Routing keys are `<tenant>.<campaign>.<type>`."""
    return f"{tenant_id}.#"


class RabbitStreamSubscriptions:
    """`StreamSubscriptions` as the bindings `<tenant>.#` of `queue` to `sendpool.events`.

    Binding and unbinding are idempotent in RabbitMQ, an absent binding's unbind included. The
    bindings are robust (aio-pika binds them again on a re-declared queue after a reconnection)."""

    def __init__(self, broker: RabbitBroker, queue: RabbitQueue) -> None:
        self._broker = broker
        self._queue = queue

    async def follow(self, tenant_id: UUID) -> None:
        await self._bind(tenant_binding(tenant_id), bound=True)

    async def unfollow(self, tenant_id: UUID) -> None:
        await self._bind(tenant_binding(tenant_id), bound=False)

    async def stop_following_everything(self) -> None:
        await self._bind(CATCH_ALL, bound=False)

    async def _bind(self, routing_key: str, *, bound: bool) -> None:
        try:
            async with asyncio.timeout(BIND_TIMEOUT_SECONDS):
                queue = await self._broker.declare_queue(self._queue)
                exchange = await self._broker.declare_exchange(EVENTS_EXCHANGE)
                if bound:
                    await queue.bind(exchange, routing_key=routing_key)
                else:
                    await queue.unbind(exchange, routing_key=routing_key)
        except Exception as exc:
            fault = transient_fault(exc)
            if fault is None:
                raise
            raise DependencyUnavailable(
                f"the event stream cannot be reached ({fault}); nothing was changed: try again shortly"
            ) from exc
