"""The scheduler's tables in PostgreSQL (schema `scheduler`), in plain SQL over asyncpg."""

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from services.scheduler.app.ports import (
    CampaignQuery,
    CompletedCampaign,
    ExpansionConflict,
    ExpansionLease,
    ProgressFigures,
    ProgressRun,
    RunningFigures,
)
from services.scheduler.domain.campaign import Campaign, CampaignState, Run, RunState
from services.scheduler.domain.csv_import import ImportRow
from services.scheduler.domain.expansion import ExpansionBatch
from services.scheduler.domain.progress import SAMPLES_KEPT, ProgressSample
from services.scheduler.domain.recipients import (
    CampaignUsingList,
    ListImport,
    ListSnapshot,
    NewRecipient,
    Recipient,
    RecipientList,
)
from services.scheduler.domain.stale import StaleMessage
from services.scheduler.domain.status import FINAL, IN_FLIGHT, OPEN, OUTCOMES, QUEUED, rank
from shared import outbox
from shared.contracts import CampaignEvent, MessageContent, MessageStatus, StatusBatch, StatusEvent
from shared.db import Database, DbConnection
from shared.topology import STATUS_EXCHANGE

LIST_COLUMNS = "id, tenant_id, name, created_at, field_names, recipient_count"
CAMPAIGN_COLUMNS = (
    "id, tenant_id, name, list_id, content, state, stop_reason, created_at, updated_at, send_at, time_zone"
)
RUN_COLUMNS = "id, campaign_id, state, total, expanded, cursor, max_recipient_id, started_at, finished_at"

CREATE_LIST = f"INSERT INTO lists (tenant_id, name) VALUES ($1, $2) RETURNING {LIST_COLUMNS}"

# A deleted list is gone for the API: its rows stay only for its campaigns' history.
FIND_LIST = f"SELECT {LIST_COLUMNS} FROM lists WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL"

# The list's count and field names follow its recipients in the same statement.
ADD_RECIPIENTS = """
WITH added AS (
    INSERT INTO recipients (list_id, email, name, fields)
    SELECT $1, r.email, r.name, r.fields::jsonb
    FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS r(email, name, fields, position)
    ORDER BY r.position
    ON CONFLICT (list_id, lower(email)) DO NOTHING
    RETURNING fields
), counted AS (
    UPDATE lists SET
        recipient_count = recipient_count + (SELECT count(*) FROM added),
        field_names = ARRAY(
            SELECT unnest(lists.field_names) UNION SELECT jsonb_object_keys(added.fields) FROM added ORDER BY 1
        )
    WHERE id = $1
)
SELECT count(*) FROM added
"""

PAGE_LISTS = f"""
SELECT {LIST_COLUMNS} FROM lists WHERE tenant_id = $1 AND deleted_at IS NULL
ORDER BY created_at DESC, id DESC LIMIT $2
"""

PAGE_LISTS_AFTER = f"""
SELECT {LIST_COLUMNS} FROM lists WHERE tenant_id = $1 AND deleted_at IS NULL AND (created_at, id) < ($3, $4)
ORDER BY created_at DESC, id DESC LIMIT $2
"""

PAGE_RECIPIENTS = (
    "SELECT id, email, name, fields FROM recipients WHERE list_id = $1 AND id > $2 ORDER BY id LIMIT $3"
)

# `completed` and `cancelled` are the finished states; any other (draft, scheduled, running, paused,
# stopped, …) may still send to the list. A few are named: enough for the tenant to act on.
UNFINISHED_CAMPAIGNS = """
SELECT id, name, state FROM campaigns WHERE list_id = $1 AND state NOT IN ('completed', 'cancelled')
ORDER BY created_at LIMIT 20
"""

# The row stays (campaigns refer to it, and their history with it); the recipients and the import
# reports (which quote refused rows) go.
DELETE_LIST = """
WITH gone_recipients AS (DELETE FROM recipients WHERE list_id = $1),
     gone_imports AS (DELETE FROM list_imports WHERE list_id = $1)
UPDATE lists SET deleted_at = now(), recipient_count = 0, field_names = '{}' WHERE id = $1
"""

# One per connection, emptied at every commit: an import's chunk is copied in, then added from it.
CREATE_IMPORT_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS recipient_import (
    line integer NOT NULL, email text NOT NULL, name text NOT NULL, field_values text[] NOT NULL
) ON COMMIT DELETE ROWS
"""

# In file order, so that the first of a file's copies of an address is the one kept. $2 names the
# custom fields, in the order of each row's values.
IMPORT_RECIPIENTS = """
WITH added AS (
    INSERT INTO recipients (list_id, email, name, fields)
    SELECT $1, email, name, jsonb_object($2::text[], field_values) FROM recipient_import ORDER BY line
    ON CONFLICT (list_id, lower(email)) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM added
"""

COUNT_IMPORTED = """
UPDATE lists SET
    recipient_count = recipient_count + $2,
    field_names = ARRAY(SELECT unnest(field_names) UNION SELECT unnest($3::text[]) ORDER BY 1)
WHERE id = $1
"""

IMPORT_COLUMNS = "id, list_id, created_at, report"

SAVE_IMPORT = (
    f"INSERT INTO list_imports (list_id, tenant_id, report) VALUES ($1, $2, $3) RETURNING {IMPORT_COLUMNS}"
)

FIND_IMPORT = f"SELECT {IMPORT_COLUMNS} FROM list_imports WHERE id = $1 AND list_id = $2"

SNAPSHOT_LIST = "SELECT count(*) AS total, coalesce(max(id), 0) AS max_id FROM recipients WHERE list_id = $1"

CREATE_CAMPAIGN = f"""
INSERT INTO campaigns (tenant_id, name, list_id, content) VALUES ($1, $2, $3, $4)
RETURNING {CAMPAIGN_COLUMNS}
"""

# $2 NULL reads any tenant's campaign (the operator's view).
FIND_CAMPAIGN = (
    f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
)

SET_CAMPAIGN_STATE = f"""
UPDATE campaigns SET state = $2, stop_reason = $3, updated_at = now() WHERE id = $1
RETURNING {CAMPAIGN_COLUMNS}
"""

# A stopped campaign stays stopped with the latest reason: the router may stop it again while
# it is still blocked, and that newer reason is the one to act on.
STOP_CAMPAIGN = """
UPDATE campaigns SET state = 'stopped', stop_reason = $3, updated_at = now()
WHERE id = $1 AND tenant_id = $2 AND state IN ('running', 'stopped')
"""

# Newest first; the page after a cursor (created_at, id) continues strictly below it. $2 NULL: any state.
LIST_CAMPAIGNS = f"""
SELECT {CAMPAIGN_COLUMNS} FROM campaigns
WHERE tenant_id = $1 AND ($2::text IS NULL OR state = $2)
  AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $3
"""

SCHEDULE_CAMPAIGN = f"""
UPDATE campaigns SET state = 'scheduled', send_at = $2, time_zone = $3, stop_reason = NULL, updated_at = now()
WHERE id = $1
RETURNING {CAMPAIGN_COLUMNS}
"""

# SKIP LOCKED: a campaign another replica's sweep (or a cancel) holds is left to it, so none starts twice.
CLAIM_DUE_CAMPAIGNS = f"""
SELECT {CAMPAIGN_COLUMNS} FROM campaigns
WHERE state = 'scheduled' AND send_at <= now()
ORDER BY send_at
LIMIT $1
FOR UPDATE SKIP LOCKED
"""

# The run stops expanding (marked cancelled, so a batch in hand is still recorded, as cancelled).
END_RUN_FOR_CANCEL = """
UPDATE runs SET cancelled_at = now(), state = CASE WHEN state = 'expanding' THEN 'expanded' ELSE state END
WHERE id = $1
"""

# Every message not final, in one statement; locked in message_id order, as RECORD_STATUSES locks
# them, so a status write racing the cancel cannot deadlock with it.
CANCEL_MESSAGES = """
WITH open AS (
    SELECT message_id FROM messages
    WHERE run_id = $1 AND status = ANY($2::text[])
    ORDER BY message_id
    FOR UPDATE
)
UPDATE messages m SET status = $3, status_rank = $4, due_at = NULL, updated_at = now()
FROM open
WHERE m.message_id = open.message_id
"""

CREATE_RUN = f"""
INSERT INTO runs (campaign_id, state, total, max_recipient_id) VALUES ($1, $2, $3, $4)
RETURNING {RUN_COLUMNS}
"""

LATEST_RUN = f"SELECT {RUN_COLUMNS} FROM runs WHERE campaign_id = $1 ORDER BY started_at DESC LIMIT 1"

# Feedback (bounced, complained) is counted beside the states: a message that bounced is `sent` too.
STATUS_COUNTS = """
SELECT status, count(*) AS n FROM messages WHERE run_id = $1 GROUP BY status
UNION ALL
SELECT status, count(*) AS n FROM message_feedback WHERE run_id = $1 GROUP BY status
"""

SENT_PER_SERVER = """
SELECT server_id, count(*) AS n FROM messages
WHERE run_id = $1 AND status = $2 AND server_id IS NOT NULL
GROUP BY server_id
"""

PROGRESS_SAMPLES = """
SELECT sampled_at, final FROM progress_samples WHERE run_id = $1 ORDER BY sampled_at
"""

RECORD_PROGRESS_SAMPLE = """
INSERT INTO progress_samples (run_id, final) VALUES ($1, $2) ON CONFLICT (run_id, sampled_at) DO NOTHING
"""

# The counts are compared as jsonb (by value): a run whose counts per state moved since the last tick
# moved, whatever order the states came in.
RECORD_PROGRESS_COUNTS = """
UPDATE runs SET
    progress_final = $2,
    progress_moved_at = CASE WHEN progress_counts IS DISTINCT FROM $3::jsonb THEN now() ELSE progress_moved_at END,
    progress_counts = $3::jsonb
WHERE id = $1
"""

# Each running campaign's current run (the latest); a run no tick has read yet has all its messages
# pending, and has moved last when it started.
RUNNING_FIGURES = """
SELECT count(*)::int AS campaigns,
       coalesce(sum(greatest(r.total - coalesce(r.progress_final, 0), 0)), 0)::bigint AS pending_messages,
       count(*) FILTER (
           WHERE r.total > coalesce(r.progress_final, 0)
             AND coalesce(r.progress_moved_at, r.started_at) < now() - make_interval(secs => $1::float8)
       )::int AS stalled
FROM campaigns c
JOIN LATERAL (
    SELECT total, progress_final, progress_moved_at, started_at FROM runs
    WHERE runs.campaign_id = c.id ORDER BY started_at DESC LIMIT 1
) r ON true
WHERE c.state = 'running'
"""

PRUNE_PROGRESS_SAMPLES = """
DELETE FROM progress_samples WHERE run_id = $1 AND sampled_at < now() - make_interval(secs => $2)
"""

# Claiming moves `progress_at` forward in the same statement, and SKIP LOCKED leaves a run another
# replica is claiming right now: with several replicas ticking, each run is claimed once per interval.
CLAIM_PROGRESS_RUNS = f"""
WITH due AS (
    SELECT r.id FROM runs r JOIN campaigns c ON c.id = r.campaign_id
    WHERE c.state = 'running' AND r.state IN ('expanding', 'expanded')
      AND (r.progress_at IS NULL OR r.progress_at <= now() - make_interval(secs => $1))
    ORDER BY r.progress_at NULLS FIRST
    LIMIT $2
    FOR UPDATE OF r SKIP LOCKED
)
UPDATE runs r SET progress_at = now()
FROM due, campaigns c
WHERE r.id = due.id AND c.id = r.campaign_id
RETURNING c.tenant_id, {", ".join(f"r.{column.strip()}" for column in RUN_COLUMNS.split(","))}
"""

RUNS_TO_EXPAND = """
SELECT r.id FROM runs r JOIN campaigns c ON c.id = r.campaign_id
WHERE r.state = 'expanding' AND c.state = 'running'
  AND (r.expander IS NULL OR r.expander_lease_until < now())
ORDER BY r.started_at
"""

CLAIM_RUN_TO_EXPAND = """
UPDATE runs r SET expander = $2, expander_lease_until = now() + make_interval(secs => $3)
FROM campaigns c
WHERE r.id = $1 AND c.id = r.campaign_id AND r.state = 'expanding' AND c.state = 'running'
  AND (r.expander IS NULL OR r.expander = $2 OR r.expander_lease_until < now())
RETURNING r.campaign_id, c.tenant_id, c.list_id, c.content, r.cursor, r.max_recipient_id
"""

# The same claim without reading the batch again: still this holder's, still to be expanded.
RENEW_EXPANSION = """
UPDATE runs r SET expander_lease_until = now() + make_interval(secs => $3)
FROM campaigns c
WHERE r.id = $1 AND c.id = r.campaign_id AND r.state = 'expanding' AND c.state = 'running' AND r.expander = $2
"""

RELEASE_RUN = """
UPDATE runs SET expander = NULL, expander_lease_until = NULL WHERE id = $1 AND expander = $2
"""

RECIPIENTS_AFTER = """
SELECT id, email, name, fields FROM recipients
WHERE list_id = $1 AND id > $2 AND id <= $3
ORDER BY id
LIMIT $4
"""

# The cursor must still be where this batch started: a second expander of the same run fails here.
# A run cancelled while its batch was in hand (published, not yet recorded) still records it, so
# that those messages are counted (as cancelled) rather than lost; its state stays as cancel left it.
ADVANCE_CURSOR = """
UPDATE runs SET
    cursor = $3,
    expanded = expanded + $4,
    state = CASE WHEN state = 'expanding' AND $3 >= max_recipient_id THEN 'expanded' ELSE state END
WHERE id = $1 AND cursor = $2 AND (state = 'expanding' OR cancelled_at IS NOT NULL)
RETURNING state, cancelled_at IS NOT NULL AS cancelled
"""

# A status event may have recorded a message before its batch did; that state is kept.
# Rows are written, and so locked, in message_id order, as RECORD_STATUSES writes them: two
# transactions that lock shared rows in one order cannot deadlock. A suppressed recipient is
# written final at once, with its reason; the others as queued.
RECORD_EXPANDED_MESSAGES = """
INSERT INTO messages (message_id, run_id, campaign_id, recipient, status, status_rank, reason)
SELECT m.message_id, $1, $2, m.recipient,
       CASE WHEN m.reason IS NULL THEN $5::text ELSE $7::text END,
       CASE WHEN m.reason IS NULL THEN $6::smallint ELSE $8::smallint END,
       m.reason
FROM unnest($3::uuid[], $4::text[], $9::text[]) AS m(message_id, recipient, reason)
ORDER BY m.message_id
ON CONFLICT (message_id) DO NOTHING
"""

FINISH_EXPANSION = "UPDATE runs SET state = 'expanded' WHERE id = $1 AND state = 'expanding'"

# The rule of services.scheduler.domain.status.advances, applied against the stored state:
# a final message never changes; otherwise (attempt, rank) must grow. Events of runs this
# scheduler does not know are dropped by the join. The ORDER BY keeps the lock order: sorting the
# arrays is not enough, since a hash join on the batch hands its rows on in no particular order.
RECORD_STATUSES = """
INSERT INTO messages AS m
    (message_id, run_id, campaign_id, recipient, status, status_rank, attempt, server_id, due_at)
SELECT e.message_id, e.run_id, e.campaign_id, e.recipient, e.status, e.status_rank, e.attempt, e.server_id, e.due_at
FROM unnest(
        $1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::smallint[], $7::integer[], $8::uuid[],
        $10::timestamptz[]
    ) AS e(message_id, run_id, campaign_id, recipient, status, status_rank, attempt, server_id, due_at)
JOIN runs r ON r.id = e.run_id AND r.campaign_id = e.campaign_id
ORDER BY e.message_id
ON CONFLICT (message_id) DO UPDATE SET
    status = EXCLUDED.status,
    status_rank = EXCLUDED.status_rank,
    attempt = EXCLUDED.attempt,
    server_id = coalesce(EXCLUDED.server_id, m.server_id),
    due_at = EXCLUDED.due_at,
    updated_at = now()
WHERE (
    m.status <> ALL($9::text[])
    -- What a server did with a message mid-send when its campaign was cancelled is the truth.
    OR (m.status = $12 AND EXCLUDED.status = ANY($13::text[]))
  )
  AND (
    -- A final state ends the message whatever its attempt (status.Progress.is_overtaken_by).
    EXCLUDED.status = ANY($9::text[])
    OR (EXCLUDED.attempt, EXCLUDED.status_rank) > (m.attempt, m.status_rank)
    -- A new wait for capacity is news until the message gets further (status.Progress.is_overtaken_by).
    OR (EXCLUDED.status = $11 AND (EXCLUDED.attempt, EXCLUDED.status_rank) >= (m.attempt, m.status_rank))
  )
RETURNING m.run_id, m.status
"""

# Once per message and status: a redelivered event, or a copy from another intake, adds nothing.
# Events of runs this scheduler does not know are dropped by the join, as in RECORD_STATUSES; the
# ORDER BY keeps one lock order, so two replicas counting the same copies cannot deadlock.
RECORD_FEEDBACK = """
INSERT INTO message_feedback (message_id, status, run_id)
SELECT e.message_id, e.status, e.run_id
FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[]) AS e(message_id, status, run_id, campaign_id)
JOIN runs r ON r.id = e.run_id AND r.campaign_id = e.campaign_id
ORDER BY e.message_id, e.status
ON CONFLICT (message_id, status) DO NOTHING
"""

COMPLETE_RUNS = """
WITH finished AS (
    UPDATE runs SET state = 'completed', finished_at = now()
    WHERE id = ANY($1::uuid[]) AND state = 'expanded'
      AND NOT EXISTS (SELECT 1 FROM messages WHERE messages.run_id = runs.id AND messages.status = ANY($2::text[]))
    RETURNING campaign_id
)
UPDATE campaigns SET state = 'completed', updated_at = now()
FROM finished
WHERE campaigns.id = finished.campaign_id AND campaigns.state IN ('running', 'stopped', 'paused')
RETURNING campaigns.tenant_id, campaigns.id
"""

# Messages of running campaigns that should be moving and have been quiet for too long: nothing
# heard since `updated_at`, nor since they were due back (`due_at`). Routed messages get a quiet
# period of their own ($2): they may wait their turn behind a long backlog in their server's queue.
# Each is marked as published again in the same statement, so replicas never pick one twice.
CLAIM_STALE_MESSAGES = """
WITH stale AS (
    SELECT m.message_id
    FROM messages m JOIN campaigns c ON c.id = m.campaign_id
    WHERE m.status = ANY($4::text[]) AND c.state = 'running'
      AND m.updated_at < now() - make_interval(secs => least($1::float8, $2::float8))
      AND CASE WHEN m.status = $5
               THEN m.updated_at < now() - make_interval(secs => $2::float8)
               ELSE greatest(m.updated_at, coalesce(m.due_at, m.updated_at)) < now() - make_interval(secs => $1::float8)
          END
    ORDER BY m.updated_at
    LIMIT $3
    FOR UPDATE OF m SKIP LOCKED
)
UPDATE messages m SET updated_at = now(), resent = m.resent + 1
FROM stale, campaigns c
WHERE m.message_id = stale.message_id AND c.id = m.campaign_id
RETURNING m.message_id, m.run_id, m.campaign_id, m.recipient, m.status, m.attempt, c.tenant_id, c.list_id, c.content
"""

RECIPIENT_NAMES = """
SELECT lower(email) AS email, name FROM recipients WHERE list_id = $1 AND lower(email) = ANY($2::text[])
"""


SCHEMA = "scheduler"
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
OUTBOX_CHANNEL = "scheduler_outbox"
"""The NOTIFY channel that wakes the outbox relay once campaign events are committed."""


class PostgresStore:
    """The scheduler's tables, one transaction at a time, on the service's `Database` (opened at start-up)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator["PostgresRepository"]:
        async with self._database.pool.acquire() as connection, connection.transaction():
            yield PostgresRepository(connection)


class PostgresRepository:
    def __init__(self, connection: DbConnection) -> None:
        self._db = connection

    async def _returned(self, query: str, *args: object) -> asyncpg.Record:
        """The row of a statement that always returns one (`INSERT … RETURNING`, an aggregate)."""
        row = await self._db.fetchrow(query, *args)
        if row is None:
            raise RuntimeError(f"no row returned by: {query.split(chr(10))[0]}")
        return row

    # ------------------------------------------------------------------ lists

    async def create_list(self, tenant_id: UUID, name: str) -> RecipientList:
        return _recipient_list(await self._returned(CREATE_LIST, tenant_id, name))

    async def find_list(self, list_id: UUID, tenant_id: UUID) -> RecipientList | None:
        row = await self._db.fetchrow(FIND_LIST, list_id, tenant_id)
        return None if row is None else _recipient_list(row)

    async def add_recipients(self, list_id: UUID, recipients: Sequence[NewRecipient]) -> int:
        emails = [recipient.email for recipient in recipients]
        names = [recipient.name for recipient in recipients]
        fields = [json.dumps(recipient.fields) for recipient in recipients]
        added: int = await self._db.fetchval(ADD_RECIPIENTS, list_id, emails, names, fields)
        return added

    async def page_lists(
        self, tenant_id: UUID, limit: int, after: tuple[datetime, UUID] | None
    ) -> list[RecipientList]:
        if after is None:
            rows = await self._db.fetch(PAGE_LISTS, tenant_id, limit)
        else:
            rows = await self._db.fetch(PAGE_LISTS_AFTER, tenant_id, limit, *after)
        return [_recipient_list(row) for row in rows]

    async def page_recipients(self, list_id: UUID, limit: int, after_id: int) -> list[Recipient]:
        rows = await self._db.fetch(PAGE_RECIPIENTS, list_id, after_id, limit)
        return [
            Recipient(id=row["id"], email=row["email"], name=row["name"], fields=row["fields"])
            for row in rows
        ]

    async def lock_list(self, list_id: UUID, tenant_id: UUID) -> RecipientList | None:
        row = await self._db.fetchrow(FIND_LIST + " FOR UPDATE", list_id, tenant_id)
        return None if row is None else _recipient_list(row)

    async def unfinished_campaigns(self, list_id: UUID) -> list[CampaignUsingList]:
        rows = await self._db.fetch(UNFINISHED_CAMPAIGNS, list_id)
        return [CampaignUsingList(id=row["id"], name=row["name"], state=row["state"]) for row in rows]

    async def delete_list(self, list_id: UUID) -> None:
        await self._db.execute(DELETE_LIST, list_id)

    async def import_recipients(
        self, list_id: UUID, rows: Sequence[ImportRow], field_names: Sequence[str]
    ) -> int:
        await self._db.execute(CREATE_IMPORT_STAGING)
        # COPY's binary protocol: the fastest way in, without one statement per row.
        await self._db.copy_records_to_table(
            "recipient_import", records=rows, columns=["line", "email", "name", "field_values"]
        )
        added: int = await self._db.fetchval(IMPORT_RECIPIENTS, list_id, list(field_names))
        if added:
            await self._db.execute(COUNT_IMPORTED, list_id, added, list(field_names))
        return added

    async def save_import(self, list_id: UUID, tenant_id: UUID, report: dict[str, Any]) -> ListImport:
        return _list_import(await self._returned(SAVE_IMPORT, list_id, tenant_id, report))

    async def find_import(self, import_id: UUID, list_id: UUID) -> ListImport | None:
        row = await self._db.fetchrow(FIND_IMPORT, import_id, list_id)
        return None if row is None else _list_import(row)

    async def snapshot_list(self, list_id: UUID) -> ListSnapshot:
        row = await self._returned(SNAPSHOT_LIST, list_id)
        return ListSnapshot(total=row["total"], max_recipient_id=row["max_id"])

    # ------------------------------------------------------------------ campaigns and runs

    async def create_campaign(
        self, tenant_id: UUID, name: str, list_id: UUID, content: MessageContent
    ) -> Campaign:
        row = await self._returned(CREATE_CAMPAIGN, tenant_id, name, list_id, content.model_dump(mode="json"))
        return _campaign(row)

    async def find_campaign(
        self, campaign_id: UUID, tenant_id: UUID | None, *, for_update: bool = False
    ) -> Campaign | None:
        query = FIND_CAMPAIGN + (" FOR UPDATE" if for_update else "")
        row = await self._db.fetchrow(query, campaign_id, tenant_id)
        return None if row is None else _campaign(row)

    async def set_campaign_state(
        self, campaign_id: UUID, state: CampaignState, stop_reason: str | None
    ) -> Campaign:
        return _campaign(await self._returned(SET_CAMPAIGN_STATE, campaign_id, state.value, stop_reason))

    async def stop_campaign(self, campaign_id: UUID, tenant_id: UUID, stop_reason: str) -> bool:
        outcome: str = await self._db.execute(STOP_CAMPAIGN, campaign_id, tenant_id, stop_reason)
        return outcome == "UPDATE 1"

    async def list_campaigns(self, tenant_id: UUID, query: CampaignQuery) -> list[Campaign]:
        created_at, after_id = query.after if query.after else (None, None)
        state = query.state.value if query.state else None
        rows = await self._db.fetch(LIST_CAMPAIGNS, tenant_id, state, query.limit, created_at, after_id)
        return [_campaign(row) for row in rows]

    async def schedule_campaign(
        self, campaign_id: UUID, send_at: datetime, time_zone: str | None
    ) -> Campaign:
        return _campaign(await self._returned(SCHEDULE_CAMPAIGN, campaign_id, send_at, time_zone))

    async def claim_due_campaigns(self, limit: int) -> list[Campaign]:
        return [_campaign(row) for row in await self._db.fetch(CLAIM_DUE_CAMPAIGNS, limit)]

    async def cancel_run(self, run_id: UUID) -> int:
        await self._db.execute(END_RUN_FOR_CANCEL, run_id)
        outcome: str = await self._db.execute(
            CANCEL_MESSAGES,
            run_id,
            sorted(OPEN),
            MessageStatus.CANCELLED.value,
            rank(MessageStatus.CANCELLED),
        )
        return int(outcome.split()[-1])

    async def create_run(self, campaign_id: UUID, state: RunState, snapshot: ListSnapshot) -> Run:
        row = await self._returned(
            CREATE_RUN, campaign_id, state.value, snapshot.total, snapshot.max_recipient_id
        )
        return _run(row)

    async def latest_run(self, campaign_id: UUID) -> Run | None:
        row = await self._db.fetchrow(LATEST_RUN, campaign_id)
        return None if row is None else _run(row)

    async def status_counts(self, run_id: UUID) -> dict[str, int]:
        return {row["status"]: row["n"] for row in await self._db.fetch(STATUS_COUNTS, run_id)}

    async def sent_per_server(self, run_id: UUID) -> dict[str, int]:
        rows = await self._db.fetch(SENT_PER_SERVER, run_id, MessageStatus.SENT.value)
        return {str(row["server_id"]): row["n"] for row in rows}

    # ------------------------------------------------------------------ progress

    async def progress_figures(self, run_id: UUID) -> ProgressFigures:
        # Two scans of the run's messages (about 160 ms and 120 ms for a run of 1,000,000, measured):
        # paid per report read and per progress tick, never per status event.
        now = await self._db.fetchval("SELECT now()")
        samples = await self._db.fetch(PROGRESS_SAMPLES, run_id)
        return ProgressFigures(
            counts=await self.status_counts(run_id),
            per_server=await self.sent_per_server(run_id),
            samples=[ProgressSample(at=row["sampled_at"], final=row["final"]) for row in samples],
            now=now,
        )

    async def record_progress_sample(self, run_id: UUID, final: int, counts: Mapping[str, int]) -> None:
        await self._db.execute(RECORD_PROGRESS_SAMPLE, run_id, final)
        await self._db.execute(PRUNE_PROGRESS_SAMPLES, run_id, SAMPLES_KEPT.total_seconds())
        await self._db.execute(RECORD_PROGRESS_COUNTS, run_id, final, json.dumps(dict(counts)))

    async def running_figures(self, *, stalled_after_seconds: float) -> RunningFigures:
        row = await self._db.fetchrow(RUNNING_FIGURES, stalled_after_seconds)
        assert row is not None  # an aggregate always returns its row
        return RunningFigures(
            campaigns=row["campaigns"], pending_messages=row["pending_messages"], stalled=row["stalled"]
        )

    async def claim_progress_runs(self, *, every_seconds: float, limit: int) -> list[ProgressRun]:
        rows = await self._db.fetch(CLAIM_PROGRESS_RUNS, every_seconds, limit)
        return [
            ProgressRun(tenant_id=row["tenant_id"], campaign_id=row["campaign_id"], run=_run(row))
            for row in rows
        ]

    # ------------------------------------------------------------------ expansion

    async def runs_to_expand(self) -> list[UUID]:
        return [row["id"] for row in await self._db.fetch(RUNS_TO_EXPAND)]

    async def next_expansion_batch(
        self, run_id: UUID, limit: int, lease: ExpansionLease
    ) -> ExpansionBatch | None:
        run = await self._db.fetchrow(CLAIM_RUN_TO_EXPAND, run_id, lease.holder, lease.seconds)
        if run is None:
            return None
        rows = await self._db.fetch(
            RECIPIENTS_AFTER, run["list_id"], run["cursor"], run["max_recipient_id"], limit
        )
        return ExpansionBatch(
            run_id=run_id,
            campaign_id=run["campaign_id"],
            tenant_id=run["tenant_id"],
            content=MessageContent.model_validate(run["content"]),
            after_cursor=run["cursor"],
            # Fields were validated on their way into the list (`RecipientIn`, the CSV import).
            recipients=tuple(
                Recipient(id=row["id"], email=row["email"], name=row["name"], fields=row["fields"])
                for row in rows
            ),
        )

    async def record_expansion(self, batch: ExpansionBatch, suppressed: Sequence[StatusEvent]) -> RunState:
        advanced = await self._db.fetchrow(
            ADVANCE_CURSOR, batch.run_id, batch.after_cursor, batch.next_cursor, len(batch.recipients)
        )
        if advanced is None:
            raise ExpansionConflict(f"run {batch.run_id} is no longer at cursor {batch.after_cursor}")
        state = advanced["state"]
        # Cancelled while this batch was in hand: its messages are final at once (a server's
        # outcome, should one have been sent meanwhile, still overrides `cancelled`).
        unsent = MessageStatus.CANCELLED.value if advanced["cancelled"] else QUEUED
        # One statement for the whole batch; its ORDER BY keeps record_statuses' lock order, so
        # the two never deadlock on shared messages (the arrays need not be sorted here).
        reasons = {event.message_id: event.reply_text or "" for event in suppressed}
        await self._db.execute(
            RECORD_EXPANDED_MESSAGES,
            batch.run_id,
            batch.campaign_id,
            batch.message_ids,
            batch.addresses,
            unsent,
            rank(unsent),
            MessageStatus.SUPPRESSED.value,
            rank(MessageStatus.SUPPRESSED),
            [reasons.get(message_id) for message_id in batch.message_ids],
        )
        # In this transaction: the suppressed messages and their events are committed together or not at all.
        await outbox.record(
            self._db, STATUS_EXCHANGE.name, StatusBatch.of(suppressed), channel=OUTBOX_CHANNEL
        )
        return RunState(state)

    async def renew_expansion(self, run_id: UUID, lease: ExpansionLease) -> bool:
        outcome: str = await self._db.execute(RENEW_EXPANSION, run_id, lease.holder, lease.seconds)
        return outcome == "UPDATE 1"

    async def release_expansion(self, run_id: UUID, holder: str) -> None:
        await self._db.execute(RELEASE_RUN, run_id, holder)

    async def finish_expansion(self, run_id: UUID) -> None:
        await self._db.execute(FINISH_EXPANSION, run_id)

    # ------------------------------------------------------------------ message states

    async def record_statuses(self, events: Sequence[StatusEvent]) -> set[UUID]:
        """Applies each event the rule lets through; returns the runs where a message became final."""
        ordered = sorted(events, key=lambda event: event.message_id)
        rows = await self._db.fetch(
            RECORD_STATUSES,
            [event.message_id for event in ordered],
            [event.run_id for event in ordered],
            [event.campaign_id for event in ordered],
            [event.recipient for event in ordered],
            [event.status.value for event in ordered],
            [rank(event.status) for event in ordered],
            [event.attempt for event in ordered],
            [event.server_id for event in ordered],
            sorted(FINAL),
            [event.retry_at for event in ordered],
            MessageStatus.WAITING.value,
            MessageStatus.CANCELLED.value,
            sorted(OUTCOMES),
        )
        return {row["run_id"] for row in rows if row["status"] in FINAL}

    async def record_feedback(self, events: Sequence[StatusEvent]) -> None:
        if not events:
            return
        await self._db.execute(
            RECORD_FEEDBACK,
            [event.message_id for event in events],
            [event.status.value for event in events],
            [event.run_id for event in events],
            [event.campaign_id for event in events],
        )

    async def complete_runs(self, run_ids: Sequence[UUID]) -> list[CompletedCampaign]:
        rows = await self._db.fetch(COMPLETE_RUNS, list(run_ids), sorted(OPEN))
        return [CompletedCampaign(tenant_id=row["tenant_id"], campaign_id=row["id"]) for row in rows]

    async def claim_stale_messages(
        self, *, quiet_seconds: float, routed_quiet_seconds: float, limit: int
    ) -> list[StaleMessage]:
        rows = await self._db.fetch(
            CLAIM_STALE_MESSAGES,
            quiet_seconds,
            routed_quiet_seconds,
            limit,
            sorted(IN_FLIGHT),
            MessageStatus.ROUTED.value,
        )
        names: dict[tuple[UUID, str], str] = {}
        for list_id in {row["list_id"] for row in rows}:
            emails = [row["recipient"].lower() for row in rows if row["list_id"] == list_id]
            for found in await self._db.fetch(RECIPIENT_NAMES, list_id, emails):
                names[(list_id, found["email"])] = found["name"]
        # Validated once per campaign, and shared by its messages (their batches carry it once).
        contents: dict[UUID, MessageContent] = {}
        for row in rows:
            if row["campaign_id"] not in contents:
                contents[row["campaign_id"]] = MessageContent.model_validate(row["content"])
        return [
            StaleMessage(
                message_id=row["message_id"],
                tenant_id=row["tenant_id"],
                campaign_id=row["campaign_id"],
                run_id=row["run_id"],
                recipient=row["recipient"],
                recipient_name=names.get((row["list_id"], row["recipient"].lower()), ""),
                content=contents[row["campaign_id"]],
                status=row["status"],
                attempt=row["attempt"],
            )
            for row in rows
        ]

    async def record_campaign_events(self, events: Sequence[CampaignEvent]) -> None:
        await outbox.record(self._db, STATUS_EXCHANGE.name, events, channel=OUTBOX_CHANNEL)


def _recipient_list(row: asyncpg.Record) -> RecipientList:
    return RecipientList(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        created_at=row["created_at"],
        field_names=tuple(row["field_names"]),
        recipient_count=row["recipient_count"],
    )


def _list_import(row: asyncpg.Record) -> ListImport:
    return ListImport(
        id=row["id"], list_id=row["list_id"], created_at=row["created_at"], report=row["report"]
    )


def _campaign(row: asyncpg.Record) -> Campaign:
    return Campaign(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        list_id=row["list_id"],
        content=MessageContent.model_validate(row["content"]),
        state=CampaignState(row["state"]),
        stop_reason=row["stop_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        send_at=row["send_at"],
        time_zone=row["time_zone"],
    )


def _run(row: asyncpg.Record) -> Run:
    return Run(
        id=row["id"],
        campaign_id=row["campaign_id"],
        state=RunState(row["state"]),
        total=row["total"],
        expanded=row["expanded"],
        cursor=row["cursor"],
        max_recipient_id=row["max_recipient_id"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )
