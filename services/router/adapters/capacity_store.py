"""Shared send counters in PostgreSQL: one row per bucket, window kind and window start.

Every router replica claims capacity from the same rows under a row lock, so a limit holds
however many replicas run.
"""

from datetime import datetime

import asyncpg

from services.router.domain.limits import Bucket, Window


class PgCapacityStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim(self, bucket: Bucket, want: int) -> tuple[int, datetime | None]:
        """Take up to `want` sends from every window of the bucket at once.

        Returns what was granted and, when that is less than wanted, when the exhausted window ends.
        """
        kinds = [w.kind for w in bucket.windows]
        starts = [w.start for w in bucket.windows]
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO capacity (bucket, kind, window_start, used)
                   SELECT $1, k, s, 0 FROM unnest($2::text[], $3::timestamptz[]) AS t(k, s)
                   ON CONFLICT DO NOTHING""",
                bucket.key,
                kinds,
                starts,
            )
            rows = await conn.fetch(
                """SELECT kind, used FROM capacity
                   WHERE bucket = $1 AND (kind, window_start) IN (SELECT * FROM unnest($2::text[], $3::timestamptz[]))
                   ORDER BY kind FOR UPDATE""",
                bucket.key,
                kinds,
                starts,
            )
            used = {row["kind"]: row["used"] for row in rows}
            room = {w.kind: w.limit - used.get(w.kind, 0) for w in bucket.windows}
            granted = max(0, min(want, *room.values()))
            if granted:
                await conn.execute(
                    """UPDATE capacity SET used = used + $4
                       WHERE bucket = $1 AND (kind, window_start) IN (SELECT * FROM unnest($2::text[], $3::timestamptz[]))""",
                    bucket.key,
                    kinds,
                    starts,
                    granted,
                )
        exhausted: list[Window] = [w for w in bucket.windows if room[w.kind] - granted <= 0]
        return granted, (max(w.end for w in exhausted) if exhausted and granted < want else None)

    async def give_back(self, bucket: Bucket, windows: tuple[Window, ...], count: int) -> None:
        if not windows or count <= 0:
            return
        await self._pool.execute(
            """UPDATE capacity SET used = greatest(used - $4, 0)
               WHERE bucket = $1 AND (kind, window_start) IN (SELECT * FROM unnest($2::text[], $3::timestamptz[]))""",
            bucket.key,
            [w.kind for w in windows],
            [w.start for w in windows],
            count,
        )

    async def remaining(self, bucket: Bucket) -> dict[str, int]:
        """Room left in each current window, without claiming any (for dry runs)."""
        rows = await self._pool.fetch(
            """SELECT kind, used FROM capacity
               WHERE bucket = $1 AND (kind, window_start) IN (SELECT * FROM unnest($2::text[], $3::timestamptz[]))""",
            bucket.key,
            [w.kind for w in bucket.windows],
            [w.start for w in bucket.windows],
        )
        used = {row["kind"]: row["used"] for row in rows}
        return {w.kind: max(0, w.limit - used.get(w.kind, 0)) for w in bucket.windows}

    async def forget_before(self, cutoff: datetime) -> int:
        result = await self._pool.execute("DELETE FROM capacity WHERE window_start < $1", cutoff)
        return int(result.split()[-1])
