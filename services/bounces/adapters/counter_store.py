"""Each server's hourly outcome counters, and the pauses the bounces service asked for, in PostgreSQL."""

from collections import Counter, defaultdict
from collections.abc import Collection
from datetime import datetime
from uuid import UUID

from services.bounces.domain.outcomes import OutcomeKey
from services.bounces.domain.reputation import ServerWindow, WindowCounts
from shared.db import Database

# In key order, so that replicas adding to the same rows lock them in one order, not deadlock.
_ADD = """
INSERT INTO server_outcome_hours (server_id, hour, status, count)
SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::bigint[])
ORDER BY 1, 2, 3
ON CONFLICT (server_id, hour, status) DO UPDATE SET count = server_outcome_hours.count + EXCLUDED.count
"""

# Two sums per server and status: the whole window (what the pool views show), and the hours after
# the bounces service last paused the server (what decides a pause again: `ServerWindow.since_pause`).
_WINDOW = """
SELECT o.server_id, o.status, p.paused_at, sum(o.count)::bigint AS whole,
       coalesce(sum(o.count) FILTER (WHERE p.paused_at IS NULL OR o.hour > p.paused_at), 0)::bigint AS since_pause
FROM server_outcome_hours o
LEFT JOIN server_protection_pauses p ON p.server_id = o.server_id AND p.paused_at >= $2
WHERE o.server_id = ANY($1::uuid[]) AND o.hour >= $2
GROUP BY o.server_id, o.status, p.paused_at
"""


class PgCounterStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, counts: Counter[OutcomeKey]) -> None:
        """Add `counts` to the hourly buckets; a negative count takes back what was counted (a bounce
        re-classified), in the bucket it was counted in."""
        keys = sorted(key for key, count in counts.items() if count != 0)
        if not keys:
            return
        await self._database.pool.execute(
            _ADD,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [counts[k] for k in keys],
        )

    async def window(self, server_ids: Collection[UUID], since: datetime) -> dict[UUID, ServerWindow]:
        """The servers' counts in the buckets from `since` on, and the part of them after the bounces
        service last paused each (if it did since `since`). Servers with nothing counted are left out."""
        rows = await self._database.pool.fetch(_WINDOW, list(server_ids), since)
        whole: dict[UUID, dict[str, int]] = defaultdict(dict)
        since_pause: dict[UUID, dict[str, int]] = defaultdict(dict)
        paused_at: dict[UUID, datetime | None] = {}
        for row in rows:
            server_id = row["server_id"]
            whole[server_id][row["status"]] = row["whole"]
            since_pause[server_id][row["status"]] = row["since_pause"]
            paused_at[server_id] = row["paused_at"]
        return {
            server_id: ServerWindow(
                whole=WindowCounts.of(whole[server_id]),
                since_pause=WindowCounts.of(since_pause[server_id]),
                paused_at=paused_at[server_id],
            )
            for server_id in whole
        }

    async def prune(self, before: datetime) -> int:
        """Delete the buckets that start before `before` (older than any window), and the pauses before
        it (the whole window is after them); returns how many buckets went."""
        async with self._database.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM server_protection_pauses WHERE paused_at < $1", before)
            deleted = await conn.fetchval(
                "WITH gone AS (DELETE FROM server_outcome_hours WHERE hour < $1 RETURNING 1) SELECT count(*) FROM gone",
                before,
            )
        return int(deleted)

    async def totals(self, server_id: UUID) -> dict[str, int]:
        """Every bucket of the server still kept, summed per status."""
        rows = await self._database.pool.fetch(
            "SELECT status, sum(count)::bigint AS n FROM server_outcome_hours WHERE server_id = $1 GROUP BY status",
            server_id,
        )
        return {row["status"]: row["n"] for row in rows}

    async def record_pause(self, server_id: UUID, paused_at: datetime, reason: str) -> None:
        """The bounces service paused `server_id` at `paused_at`: from then on it is judged afresh."""
        await self._database.pool.execute(
            """INSERT INTO server_protection_pauses (server_id, paused_at, reason) VALUES ($1, $2, $3)
               ON CONFLICT (server_id) DO UPDATE SET paused_at = EXCLUDED.paused_at, reason = EXCLUDED.reason""",
            server_id,
            paused_at,
            reason,
        )
