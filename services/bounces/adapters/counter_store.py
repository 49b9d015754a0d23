from collections import Counter
from uuid import UUID

from services.bounces.domain.outcomes import OutcomeKey
from shared.db import Database


class PgCounterStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, counts: Counter[OutcomeKey]) -> None:
        # In key order, so that replicas adding to the same rows lock them in one order, not deadlock.
        keys = sorted(counts)
        await self._database.pool.execute(
            """INSERT INTO server_outcomes (server_id, day, status, count)
               SELECT * FROM unnest($1::uuid[], $2::date[], $3::text[], $4::bigint[])
               ORDER BY 1, 2, 3
               ON CONFLICT (server_id, day, status) DO UPDATE SET count = server_outcomes.count + EXCLUDED.count""",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [counts[k] for k in keys],
        )

    async def totals(self, server_id: UUID) -> dict[str, int]:
        rows = await self._database.pool.fetch(
            "SELECT status, sum(count)::bigint AS n FROM server_outcomes WHERE server_id = $1 GROUP BY status",
            server_id,
        )
        return {row["status"]: row["n"] for row in rows}
