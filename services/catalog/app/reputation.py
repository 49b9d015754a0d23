"""Server reputation: the bounce and complaint rates the bounces service reports (`ServerReputationReport`),
kept for `ServerView.reputation` and the pool views."""

from services.catalog.app.ports import CatalogStore
from shared.contracts import ServerReputationReport


class Reputations:
    def __init__(self, store: CatalogStore) -> None:
        self._store = store

    async def record(self, report: ServerReputationReport) -> bool:
        """Keep the report; False when it is not kept (an unknown server, or older than the one kept:
        reports from several bounces replicas may arrive out of order)."""
        async with self._store.transaction() as tx:
            return await tx.save_reputation(report.server_id, report.reputation)
