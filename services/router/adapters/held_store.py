"""Campaigns the router stopped and the messages it holds for them, in PostgreSQL (schema router)."""

from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg

from shared.contracts import SendRequested

RELEASE_BATCH = 500


class PgHeldMessages:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def stopped_campaigns(self) -> set[UUID]:
        rows = await self._pool.fetch("SELECT campaign_id FROM stopped_campaigns")
        return {row["campaign_id"] for row in rows}

    async def stop(self, campaign_id: UUID, reason: str) -> bool:
        inserted = await self._pool.fetchval(
            """INSERT INTO stopped_campaigns (campaign_id, reason) VALUES ($1, $2)
               ON CONFLICT (campaign_id) DO NOTHING RETURNING true""",
            campaign_id,
            reason,
        )
        return bool(inserted)

    async def hold(self, message: SendRequested) -> bool:
        # The share lock orders this against `resume`, which deletes the stop before releasing:
        # either the message is held before the stop goes (and that resume releases it), or the
        # stop is gone and nothing is held. Without it, a message held a moment after a resume
        # finished waited for a resume that might never come.
        async with self._pool.acquire() as conn, conn.transaction():
            stopped = await conn.fetchval(
                "SELECT true FROM stopped_campaigns WHERE campaign_id = $1 FOR SHARE",
                message.campaign_id,
            )
            if not stopped:
                return False
            await conn.execute(
                """INSERT INTO held_messages (message_id, campaign_id, payload) VALUES ($1, $2, $3)
                   ON CONFLICT (message_id) DO NOTHING""",
                message.message_id,
                message.campaign_id,
                message.model_dump(mode="json"),
            )
            return True

    async def resume(self, campaign_id: UUID, release: Callable[[SendRequested], Awaitable[None]]) -> int:
        await self._pool.execute("DELETE FROM stopped_campaigns WHERE campaign_id = $1", campaign_id)
        released = 0
        while True:
            # Each batch is deleted only after its messages are confirmed back on the send exchange;
            # SKIP LOCKED lets several router replicas release one campaign without sending twice.
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    """SELECT message_id, payload FROM held_messages WHERE campaign_id = $1
                       ORDER BY held_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
                    campaign_id,
                    RELEASE_BATCH,
                )
                if not rows:
                    return released
                for row in rows:
                    await release(SendRequested.model_validate(row["payload"]))
                await conn.execute(
                    "DELETE FROM held_messages WHERE message_id = ANY($1::uuid[])",
                    [r["message_id"] for r in rows],
                )
                released += len(rows)
