"""Campaigns the router stopped and the messages it holds for them, in PostgreSQL (schema router).

What others must hear of a stop or a hold (`campaign_stopped`, `held`) is written to the
router's outbox in the same transaction as the stop and the held message (`shared.outbox`), so
a stop is never recorded without being announced, nor announced without being recorded.

The tenant's pauses and cancellations are rows of `campaign_controls` (the latest decision per
campaign, by when the scheduler made it): a pause also records a stop (without announcing one),
so it holds and is resumed as a stop is; a cancellation lifts the stop and drops the held
messages, each with its `cancelled` status written to the outbox in the transaction that deletes it.
"""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from services.router.app.ports import HoldOutcome, Release
from services.router.domain.controls import PAUSED_REASON, cancelled_status
from shared.contracts import (
    CampaignEvent,
    CampaignEventKind,
    SendRequested,
    StatusBatch,
    StatusEvent,
)
from shared.db import Database, DbConnection
from shared.outbox import record
from shared.topology import STATUS_EXCHANGE

RELEASE_BATCH = 500
OUTBOX_CHANNEL = "router_outbox"
"""The NOTIFY channel that wakes the router's outbox relay."""

_LOCK_STOP = """SELECT true FROM stopped_campaigns
                WHERE campaign_id = $1 AND resuming_since IS NULL FOR SHARE"""
"""The campaign is stopped, and stays so until the caller's transaction ends (a resume waits)."""
_IS_CANCELLED = """SELECT true FROM campaign_controls WHERE campaign_id = $1 AND state = 'cancelled'"""
_RECORD_CONTROL = """INSERT INTO campaign_controls AS c (campaign_id, tenant_id, state, decided_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (campaign_id) DO UPDATE
                         SET state = excluded.state, decided_at = excluded.decided_at, recorded_at = now()
                         WHERE c.state <> 'cancelled'
                           AND (excluded.state = 'cancelled' OR c.decided_at <= excluded.decided_at)
                     RETURNING true"""
"""The decision, unless a newer one is recorded already or the campaign is cancelled (final)."""
_CONTROL_STATES = {
    CampaignEventKind.PAUSED: "paused",
    CampaignEventKind.RESUMED: "resumed",
    CampaignEventKind.CANCELLED: "cancelled",
}
_HOLD = """INSERT INTO held_messages (message_id, campaign_id, payload) VALUES ($1, $2, $3)
           ON CONFLICT (message_id) DO NOTHING"""


class PgHeldMessages:
    """A stop is a row of `stopped_campaigns`; a resume first marks it `resuming_since`, then
    releases the held messages in batches, then deletes it. Every step can be repeated after a
    crash, and the mark is what makes that safe: from the moment it commits no message is held
    for the campaign (replicas that still remember the stop route instead), so the release
    never has to chase messages held again behind it.
    """

    def __init__(self, database: Database, *, release_batch: int = RELEASE_BATCH) -> None:
        self._database = database
        self._release_batch = release_batch

    async def stopped_campaigns(self) -> set[UUID]:
        rows = await self._database.pool.fetch(
            "SELECT campaign_id FROM stopped_campaigns WHERE resuming_since IS NULL"
        )
        return {row["campaign_id"] for row in rows}

    async def stop_and_hold(
        self, message: SendRequested, reason: str, stopped: CampaignEvent, held: StatusEvent
    ) -> HoldOutcome:
        """Record the stop and hold the message in one transaction, with their announcements:
        `stopped` only if this call recorded the stop first, `held` whenever the message is held."""
        async with self._database.pool.acquire() as conn, conn.transaction():
            # A campaign cancelled meanwhile (unknown to this replica yet) is not stopped: its
            # message is dropped (a cancellation that commits after this check is caught by the
            # sweeper, which drops what is held for a cancelled campaign).
            if await conn.fetchval(_IS_CANCELLED, message.campaign_id):
                return HoldOutcome(recorded_stop=False, held=False, cancelled=True)
            # A campaign being resumed is stopped again (its resume stops releasing at the next batch).
            recorded = await conn.fetchval(
                """INSERT INTO stopped_campaigns (campaign_id, reason) VALUES ($1, $2)
                   ON CONFLICT (campaign_id) DO UPDATE
                       SET reason = excluded.reason, stopped_at = now(), resuming_since = NULL
                       WHERE stopped_campaigns.resuming_since IS NOT NULL
                   RETURNING true""",
                message.campaign_id,
                reason,
            )
            # Stopped by another replica: its stop may be lifted meanwhile, as under `hold`.
            if not recorded and not await conn.fetchval(_LOCK_STOP, message.campaign_id):
                return HoldOutcome(recorded_stop=False, held=False)
            await conn.execute(
                _HOLD, message.message_id, message.campaign_id, message.model_dump(mode="json")
            )
            await _announce(conn, [stopped, held] if recorded else [held])
            return HoldOutcome(recorded_stop=bool(recorded), held=True)

    async def hold(self, message: SendRequested, held: StatusEvent) -> bool:
        # The share lock orders this against a resume, which marks the stop under a row lock:
        # either the message is held before the mark commits (and that resume releases it), or
        # the campaign is resuming and nothing is held.
        async with self._database.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(_LOCK_STOP, message.campaign_id):
                return False
            await conn.execute(
                _HOLD, message.message_id, message.campaign_id, message.model_dump(mode="json")
            )
            await _announce(conn, [held])
            return True

    async def resume(self, campaign_id: UUID, release: Release) -> int:
        """Mark the stop as being lifted, hand every held message to `release`, then forget the stop.

        Safe to repeat after a crash at any point: each batch is deleted in the transaction that
        saw it confirmed back on the send exchange (a crash re-releases at most that batch,
        under the same message ids), and the stop goes last, so the resume's redelivered
        event, or the sweeper, finishes what a dead replica started.
        """
        await self._database.pool.execute(
            """UPDATE stopped_campaigns SET resuming_since = coalesce(resuming_since, now())
               WHERE campaign_id = $1""",
            campaign_id,
        )
        return await self._release(campaign_id, release)

    async def orphaned_campaigns(self) -> list[UUID]:
        """Campaigns with held messages that are not stopped: no stop any more (left by a release
        that died after it went) or one being lifted (by a resume that may have died), or that
        are cancelled (a message held by a replica that did not know yet)."""
        rows = await self._database.pool.fetch(
            """SELECT DISTINCT h.campaign_id FROM held_messages h
               WHERE NOT EXISTS (SELECT 1 FROM stopped_campaigns s
                                 WHERE s.campaign_id = h.campaign_id AND s.resuming_since IS NULL)
                  OR EXISTS (SELECT 1 FROM campaign_controls c
                             WHERE c.campaign_id = h.campaign_id AND c.state = 'cancelled')"""
        )
        return [row["campaign_id"] for row in rows]

    async def release_orphans(self, campaign_id: UUID, release: Release) -> int:
        """Release the campaign's held messages unless it is stopped (again); never lifts a stop.
        Those of a cancelled campaign are dropped instead (each reported `cancelled`)."""
        if await self.is_cancelled(campaign_id):
            return await self.drop_held(campaign_id)
        return await self._release(campaign_id, release)

    # ------------------------------------------------------------------ the tenant's decisions

    async def campaign_controls(self, cancelled_since: datetime) -> tuple[set[UUID], set[UUID]]:
        """The campaigns paused now, and those cancelled since `cancelled_since` (older ones have
        nothing left in flight: the scheduler marked their messages cancelled long ago)."""
        rows = await self._database.pool.fetch(
            """SELECT campaign_id, state FROM campaign_controls
               WHERE state = 'paused' OR (state = 'cancelled' AND decided_at >= $1)""",
            cancelled_since,
        )
        paused = {row["campaign_id"] for row in rows if row["state"] == "paused"}
        return paused, {row["campaign_id"] for row in rows if row["state"] == "cancelled"}

    async def is_cancelled(self, campaign_id: UUID) -> bool:
        return bool(await self._database.pool.fetchval(_IS_CANCELLED, campaign_id))

    async def pause(self, event: CampaignEvent) -> bool:
        """Record the pause and stop the campaign (nothing announced: the scheduler announced the
        pause). False if a newer decision is recorded, or the campaign is cancelled."""
        async with self._database.pool.acquire() as conn, conn.transaction():
            if not await _record_control(conn, event):
                return False
            # A resume under way is halted at its next batch; the rest stays held.
            await conn.execute(
                """INSERT INTO stopped_campaigns (campaign_id, reason) VALUES ($1, $2)
                   ON CONFLICT (campaign_id) DO UPDATE SET resuming_since = NULL""",
                event.campaign_id,
                PAUSED_REASON,
            )
            return True

    async def record_resume(self, event: CampaignEvent) -> bool:
        """Record the resume; False (the caller does nothing) if the campaign is cancelled or a
        newer pause is recorded. True again for the same event redelivered, so it can be finished."""
        async with self._database.pool.acquire() as conn:
            return await _record_control(conn, event)

    async def cancel(self, event: CampaignEvent) -> int:
        """Record the cancellation (final), lift the stop, drop every held message; returns how many
        were dropped. Repeatable: a crash half way leaves the rest to the redelivered event or the sweeper."""
        async with self._database.pool.acquire() as conn, conn.transaction():
            await _record_control(conn, event)
            # Waits for a hold under way (it locks the stop row): what it holds is dropped below.
            await conn.execute("DELETE FROM stopped_campaigns WHERE campaign_id = $1", event.campaign_id)
        return await self.drop_held(event.campaign_id)

    async def drop_held(self, campaign_id: UUID) -> int:
        """Delete the campaign's held messages a batch at a time, each with its `cancelled` status."""
        dropped = 0
        while True:
            async with self._database.pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    """SELECT message_id, payload FROM held_messages WHERE campaign_id = $1
                       ORDER BY held_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
                    campaign_id,
                    self._release_batch,
                )
                if not rows:
                    # A stop recorded by a replica that did not know of the cancellation yet.
                    await conn.execute("DELETE FROM stopped_campaigns WHERE campaign_id = $1", campaign_id)
                    return dropped
                statuses = [cancelled_status(SendRequested.model_validate(row["payload"])) for row in rows]
                await _announce(conn, StatusBatch.of(statuses))
                await conn.execute(
                    "DELETE FROM held_messages WHERE message_id = ANY($1::uuid[])",
                    [r["message_id"] for r in rows],
                )
                dropped += len(rows)

    async def _release(self, campaign_id: UUID, release: Release) -> int:
        released = 0
        while True:
            async with self._database.pool.acquire() as conn, conn.transaction():
                # Stopped again meanwhile: the rest stays held for the next resume.
                if await conn.fetchval(_LOCK_STOP, campaign_id):
                    return released
                # SKIP LOCKED lets several replicas (a resume and the sweeper) release one campaign
                # without sending a message twice.
                rows = await conn.fetch(
                    """SELECT message_id, payload FROM held_messages WHERE campaign_id = $1
                       ORDER BY held_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
                    campaign_id,
                    self._release_batch,
                )
                if not rows:
                    await conn.execute(
                        "DELETE FROM stopped_campaigns WHERE campaign_id = $1 AND resuming_since IS NOT NULL",
                        campaign_id,
                    )
                    return released
                # One batch message back to routing (per run, as `SendBatch.of` groups them), and
                # deleted in this transaction once the broker confirmed it.
                await release([SendRequested.model_validate(row["payload"]) for row in rows])
                await conn.execute(
                    "DELETE FROM held_messages WHERE message_id = ANY($1::uuid[])",
                    [r["message_id"] for r in rows],
                )
                released += len(rows)


async def _record_control(conn: DbConnection, event: CampaignEvent) -> bool:
    return bool(
        await conn.fetchval(
            _RECORD_CONTROL,
            event.campaign_id,
            event.tenant_id,
            _CONTROL_STATES[event.kind],
            event.occurred_at,
        )
    )


async def _announce(conn: DbConnection, events: Sequence[CampaignEvent | StatusEvent | StatusBatch]) -> None:
    """Record what others must hear of a stop or a hold, in the transaction that makes it."""
    await record(conn, STATUS_EXCHANGE.name, events, channel=OUTBOX_CHANNEL)
