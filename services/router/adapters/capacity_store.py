"""Shared send counters in PostgreSQL: one row per bucket, window kind and slot.

Every router replica claims capacity under a lock on the rows of the current slots, so a limit
holds however many replicas run; what a window has used is the sum of its slots (see
`services.router.domain.limits`).
"""

from collections.abc import Sequence
from datetime import datetime

from services.router.domain.limits import Bucket, Window
from shared.db import Database

_USED_PER_WINDOW = """
    SELECT w.kind, coalesce(sum(c.used), 0)::int AS used
    FROM unnest($2::text[], $3::timestamptz[], $4::timestamptz[]) AS w(kind, counted_from, slot)
    LEFT JOIN capacity c
        ON c.bucket = $1 AND c.kind = w.kind AND c.window_start BETWEEN w.counted_from AND w.slot
    GROUP BY w.kind
"""


_USED_PER_BUCKET_WINDOW = """
    SELECT w.bucket, w.kind, coalesce(sum(c.used), 0)::int AS used
    FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS w(bucket, kind, counted_from, slot)
    LEFT JOIN capacity c
        ON c.bucket = w.bucket AND c.kind = w.kind AND c.window_start BETWEEN w.counted_from AND w.slot
    GROUP BY w.bucket, w.kind
"""


def _window_arrays(bucket: Bucket) -> tuple[list[str], list[datetime], list[datetime]]:
    return (
        [w.kind for w in bucket.windows],
        [w.counted_from for w in bucket.windows],
        [w.start for w in bucket.windows],
    )


class PgCapacityStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def claim(self, bucket: Bucket, want: int) -> tuple[int, datetime | None]:
        """Take up to `want` sends from every window of the bucket at once.

        Returns what was granted and, when that is less than wanted, when the exhausted windows
        are wholly free again (waiting messages come back then, not at every freed slot).
        """
        kinds, counted_from, slots = _window_arrays(bucket)
        async with self._database.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO capacity (bucket, kind, window_start, used)
                   SELECT $1, k, s, 0 FROM unnest($2::text[], $3::timestamptz[]) AS t(k, s)
                   ON CONFLICT DO NOTHING""",
                bucket.key,
                kinds,
                slots,
            )
            # Every claim of this bucket locks its current slots first (in one order), so the
            # sums below are never read by two claims at once.
            await conn.execute(
                """SELECT 1 FROM capacity
                   WHERE bucket = $1 AND (kind, window_start) IN (SELECT * FROM unnest($2::text[], $3::timestamptz[]))
                   ORDER BY kind FOR UPDATE""",
                bucket.key,
                kinds,
                slots,
            )
            rows = await conn.fetch(_USED_PER_WINDOW, bucket.key, kinds, counted_from, slots)
            used = {row["kind"]: row["used"] for row in rows}
            room = {w.kind: w.limit - used[w.kind] for w in bucket.windows}
            granted = max(0, min(want, *room.values()))
            if granted:
                await conn.execute(
                    """UPDATE capacity SET used = used + $4
                       WHERE bucket = $1 AND (kind, window_start) IN (SELECT * FROM unnest($2::text[], $3::timestamptz[]))""",
                    bucket.key,
                    kinds,
                    slots,
                    granted,
                )
        exhausted: list[Window] = [w for w in bucket.windows if room[w.kind] - granted <= 0]
        if not exhausted or granted >= want:
            return granted, None
        return granted, max(w.all_counted_free_at for w in exhausted)

    async def give_back(self, bucket: Bucket, windows: tuple[Window, ...], count: int) -> None:
        """Uncount sends claimed in those windows' slots and never spent."""
        if not windows or count <= 0:
            return
        await self._database.pool.execute(
            """UPDATE capacity SET used = greatest(used - $4, 0)
               WHERE bucket = $1 AND (kind, window_start) IN (SELECT * FROM unnest($2::text[], $3::timestamptz[]))""",
            bucket.key,
            [w.kind for w in windows],
            [w.start for w in windows],
            count,
        )

    async def remaining(self, bucket: Bucket) -> dict[str, int]:
        """Room left in each window now, without claiming any (for dry runs)."""
        used = (await self.used([bucket])).get(bucket.key, {})
        return {w.kind: max(0, w.limit - used.get(w.kind, 0)) for w in bucket.windows}

    async def used(self, buckets: Sequence[Bucket]) -> dict[str, dict[str, int]]:
        """What each window of each bucket has used now (claimed, spent or not), in one query."""
        windows = [(bucket.key, window) for bucket in buckets for window in bucket.windows]
        if not windows:
            return {}
        rows = await self._database.pool.fetch(
            _USED_PER_BUCKET_WINDOW,
            [key for key, _ in windows],
            [window.kind for _, window in windows],
            [window.counted_from for _, window in windows],
            [window.start for _, window in windows],
        )
        used: dict[str, dict[str, int]] = {}
        for row in rows:
            used.setdefault(row["bucket"], {})[row["kind"]] = row["used"]
        return used

    async def forget_before(self, cutoff: datetime) -> int:
        result = await self._database.pool.execute("DELETE FROM capacity WHERE window_start < $1", cutoff)
        return int(result.split()[-1])
