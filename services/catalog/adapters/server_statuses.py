"""Every server's state and pause, for the metrics: one read of a few columns of `servers`."""

from services.catalog.domain.fleet_status import ServerStatus
from shared.contracts import ServerState
from shared.db import Database

SERVER_STATUSES = "SELECT id, vendor, state, paused_by, pause_reason FROM servers"


class PostgresServerStatuses:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def server_statuses(self) -> list[ServerStatus]:
        rows = await self._database.pool.fetch(SERVER_STATUSES)
        return [
            ServerStatus(
                id=row["id"],
                vendor=row["vendor"],
                state=ServerState(row["state"]),
                paused_by=row["paused_by"],
                pause_reason=row["pause_reason"],
            )
            for row in rows
        ]
