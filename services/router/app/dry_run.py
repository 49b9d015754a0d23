"""Simulate a campaign's routing for N messages under the current limits, claiming nothing."""

from datetime import datetime
from uuid import UUID

from services.router.app.ports import RoomReader
from services.router.app.routing import Router
from services.router.domain.dry_run import Forecast, WindowRoom, forecast
from services.router.domain.limits import server_bucket
from services.router.domain.selection import Candidates, eligible_servers
from shared.errors import NotFound


async def dry_run(
    router: Router, rooms: RoomReader, tenant_id: UUID, campaign_id: UUID, messages: int, now: datetime
) -> tuple[Candidates, Forecast]:
    policy = await router.catalog.policy(campaign_id, tenant_id)
    if policy.tenant_id != tenant_id:
        raise NotFound(f"campaign {campaign_id} not found")
    candidates = eligible_servers(policy, router.view)
    if not candidates.weights:
        # As routing does before it stops a campaign: events may lag a server enabled a moment ago.
        await router.refresh_view()
        candidates = eligible_servers(policy, router.view)
    server_rooms: dict[UUID, list[WindowRoom] | None] = {}
    for server_id in candidates.weights:
        bucket = server_bucket(router.view.servers[server_id], now)
        if bucket is None:
            server_rooms[server_id] = None
            continue
        left = await rooms.remaining(bucket)
        server_rooms[server_id] = [
            WindowRoom(w.kind, w.limit, left[w.kind], (w.all_counted_free_at - now).total_seconds())
            for w in bucket.windows
        ]
    return candidates, forecast(messages, candidates.weights, server_rooms)
