"""The servers' states and pauses as monitoring sees them, read every so often (not per scrape):
a background round reads them in one query and hands them to the metrics."""

from services.catalog.app.ports import FleetStatusMetrics, ServerStatuses


class FleetStatus:
    def __init__(self, servers: ServerStatuses, metrics: FleetStatusMetrics) -> None:
        self._servers = servers
        self._metrics = metrics

    async def refresh(self) -> None:
        self._metrics.show(await self._servers.server_statuses())
