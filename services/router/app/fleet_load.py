"""What a dashboard needs to see of the servers: their queues' backlogs and consumers, what their
limits still allow, and the messages waiting in sendpool.dead.

A background round reads them all at once, away from routing: one passive declaration per queue
and one query of the send counters, every `SENDPOOL_ROUTER_QUEUE_METRICS_INTERVAL_SECONDS`.
"""

from collections.abc import Callable
from datetime import UTC, datetime

from services.router.app.ports import NO_QUEUE, FleetGauges, QueueStats, ServerLoad, UsedCapacity
from services.router.domain.headroom import server_headroom
from services.router.domain.limits import server_bucket
from services.router.domain.view import RoutingView
from shared.contracts import ServerState
from shared.topology import DEAD_QUEUE, delivery_queue_name


class FleetLoad:
    def __init__(
        self,
        view: RoutingView,
        queues: QueueStats,
        capacity: UsedCapacity,
        gauges: FleetGauges,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._view = view
        self._queues = queues
        self._capacity = capacity
        self._gauges = gauges
        self._clock = clock

    async def report(self) -> None:
        """One round: every server the router knows, and sendpool.dead."""
        servers = list(self._view.servers.values())
        queue_names = {server.id: delivery_queue_name(server.vendor, server.id) for server in servers}
        depths = await self._queues.depths([*queue_names.values(), DEAD_QUEUE.name])
        now = self._clock()
        buckets = {
            server.id: bucket
            for server in servers
            if server.state is ServerState.ACTIVE and (bucket := server_bucket(server, now)) is not None
        }
        used = await self._capacity.used(list(buckets.values()))
        self._gauges.show(
            [
                ServerLoad(
                    server_id=server.id,
                    vendor=server.vendor,
                    queue=depths.get(queue_names[server.id], NO_QUEUE),
                    headroom=server_headroom(server, now, used.get(buckets[server.id].key, {}))
                    if server.id in buckets
                    else {},
                )
                for server in servers
            ],
            dead_letters=depths.get(DEAD_QUEUE.name, NO_QUEUE).messages,
        )
