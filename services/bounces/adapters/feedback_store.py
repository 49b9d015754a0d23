"""Feedback, the messages it is matched to, and what it causes, in PostgreSQL (schema bounces).

Everything one `take` (or one re-classification) decides is written in one transaction
(`PgFeedbackStore.transaction`): the feedback, its matches, the suppressions with their audit
rows, and the status events in the outbox (`shared.outbox`), so a status event is never
published for feedback that was not stored, nor stored feedback left unannounced.
Every statement handles the whole batch: one round trip per step, never one per report.
"""

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.bounces.domain.actions import (
    Match,
    Report,
    SentMessage,
    Suppression,
    SuppressionSource,
    dedupe_key,
)
from services.bounces.domain.feedback import Feedback
from shared.contracts import FeedbackClass, StatusBatch, StatusEvent
from shared.db import Database, DbConnection
from shared.outbox import record
from shared.topology import STATUS_EXCHANGE

OUTBOX_CHANNEL = "bounces_outbox"
"""The NOTIFY channel that wakes the bounces service's outbox relay."""

DETAILS_MAX_KEYS = 32
REPORTS_PER_FEEDBACK_MAX = 100
DETAIL_VALUE_MAX = 1000


def _cut(text: str | None, limit: int) -> str:
    text = (text or "").replace("\x00", "")
    return text if len(text) <= limit else text[:limit]


def _details(feedback: Feedback) -> str:
    kept = dict(list(feedback.details.items())[:DETAILS_MAX_KEYS])
    return json.dumps({_cut(str(k), 64): _cut(str(v), DETAIL_VALUE_MAX) for k, v in kept.items()})


_SENT_COLUMNS = (
    "message_id, tenant_id, campaign_id, run_id, server_id, vendor, recipient, vendor_message_id, sent_at"
)


def _sent(row: asyncpg.Record) -> SentMessage:
    return SentMessage(**{key: row[key] for key in _SENT_COLUMNS.split(", ")})


_REPORT_COLUMNS = """id, class, claimed_message_id, original_message_id, claimed_server_id, vendor_message_id,
                     reported_recipient, status_code, diagnostic, feedback_type, occurred_at, received_at"""


def _report(row: asyncpg.Record) -> Report:
    return Report(
        id=row["id"],
        feedback_class=FeedbackClass(row["class"]),
        claimed_message_id=row["claimed_message_id"],
        original_message_id=row["original_message_id"],
        claimed_server_id=row["claimed_server_id"],
        vendor_message_id=row["vendor_message_id"],
        reported_recipient=row["reported_recipient"],
        status_code=row["status_code"],
        diagnostic=row["diagnostic"],
        feedback_type=row["feedback_type"],
        occurred_at=row["occurred_at"],
        received_at=row["received_at"],
    )


_SUPPRESS = """
INSERT INTO suppressions (tenant_id, address, reason, source, expires_at, feedback_id)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[])
ORDER BY 1, 2
ON CONFLICT ON CONSTRAINT suppressions_tenant_id_address_key DO UPDATE
    SET reason = EXCLUDED.reason, source = EXCLUDED.source, created_at = now(),
        expires_at = EXCLUDED.expires_at, feedback_id = EXCLUDED.feedback_id
    -- Only ever stronger: an expired row is replaced, a temporary one made longer or permanent.
    WHERE suppressions.expires_at IS NOT NULL
      AND (suppressions.expires_at <= now() OR EXCLUDED.expires_at IS NULL
           OR EXCLUDED.expires_at > suppressions.expires_at)
RETURNING tenant_id, address, reason, source, expires_at, feedback_id
"""


def suppression_of(row: asyncpg.Record) -> Suppression:
    return Suppression(
        tenant_id=row["tenant_id"],
        address=row["address"],
        reason=row["reason"],
        source=SuppressionSource(row["source"]),
        expires_at=row["expires_at"],
        feedback_id=row["feedback_id"],
    )


async def suppress(conn: DbConnection, suppressions: Sequence[Suppression]) -> list[Suppression]:
    """Add `suppressions` (one per tenant and address); returns those that changed something (new,
    or stronger than the one there). An active suppression is never weakened."""
    if not suppressions:
        return []
    rows = await conn.fetch(
        _SUPPRESS,
        [s.tenant_id for s in suppressions],
        [s.address for s in suppressions],
        [s.reason for s in suppressions],
        [s.source.value for s in suppressions],
        [s.expires_at for s in suppressions],
        [s.feedback_id for s in suppressions],
    )
    return [suppression_of(row) for row in rows]


async def audit(
    conn: DbConnection, actor: str, entries: Sequence[tuple[str, str, UUID | None, dict[str, Any]]]
) -> None:
    """Append (action, subject, tenant, details) entries done by `actor`."""
    if not entries:
        return
    await conn.execute(
        """INSERT INTO audit_log (actor, action, subject, tenant_id, details)
           SELECT $1, a, s, t, d::jsonb FROM unnest($2::text[], $3::text[], $4::uuid[], $5::text[]) AS x(a, s, t, d)""",
        actor,
        [entry[0] for entry in entries],
        [entry[1] for entry in entries],
        [entry[2] for entry in entries],
        [json.dumps(entry[3], default=str) for entry in entries],
    )


def suppression_audit(
    action: str, suppressions: Sequence[Suppression]
) -> list[tuple[str, str, UUID | None, dict[str, Any]]]:
    return [
        (
            action,
            s.address,
            s.tenant_id,
            {
                "scope": "global" if s.tenant_id is None else "tenant",
                "reason": s.reason,
                "source": s.source.value,
                "expires_at": s.expires_at.isoformat() if s.expires_at else None,
                "feedback_id": s.feedback_id,
            },
        )
        for s in suppressions
    ]


class FeedbackTransaction:
    """The steps of one `take` or re-classification, on one connection inside one transaction."""

    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def store(self, feedback: Sequence[Feedback], *, raw_max_bytes: int) -> list[Report]:
        """Store the feedback not stored before (by its dedupe key), one row per recipient report;
        returns the new reports, unmatched yet. Feedback seen before gives none."""
        firsts: dict[str, Feedback] = {}
        for item in feedback:
            firsts.setdefault(dedupe_key(item), item)
        if not firsts:
            return []
        rows = await self._conn.fetch(
            """INSERT INTO feedback_sources (dedupe_key, source, raw, raw_size)
               SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int[])
               ON CONFLICT (dedupe_key) DO NOTHING
               RETURNING id, dedupe_key""",
            list(firsts),
            [_cut(item.source, 50) for item in firsts.values()],
            [item.raw[:raw_max_bytes] for item in firsts.values()],
            [len(item.raw) for item in firsts.values()],
        )
        columns: list[list[Any]] = [[] for _ in range(17)]
        for row in rows:
            item = firsts[row["dedupe_key"]]
            c = item.classification
            # A report names one message's recipient: past a hundred, the rest is noise (or an attack).
            reports = c.recipients[:REPORTS_PER_FEEDBACK_MAX] or (None,)
            for position, report in enumerate(reports):
                values = (
                    row["id"],
                    position,
                    _cut(item.source, 50),
                    c.feedback_class.value,
                    _cut(c.rule, 200),
                    _cut(c.feedback_type, 100),
                    item.message_id,
                    c.original_message_id,
                    item.server_id,
                    _cut(item.vendor_message_id, 255) or None,
                    _cut(report.address.strip().lower() if report else "", 254),
                    _cut(report.status if report else "", 32),
                    _cut(report.action if report else "", 32),
                    _cut(report.diagnostic if report else "", 2000),
                    _cut(report.remote_mta if report else "", 255),
                    item.occurred_at,
                    _details(item),
                )
                for column, value in zip(columns, values, strict=True):
                    column.append(value)
        if not rows:
            return []
        stored = await self._conn.fetch(
            f"""INSERT INTO feedback (source_id, position, source, class, rule, feedback_type, claimed_message_id,
                       original_message_id, claimed_server_id, vendor_message_id, reported_recipient, recipient,
                       status_code, action, diagnostic, remote_mta, occurred_at, details)
                SELECT sid, pos, src, cls, rul, ftype, cmid, omid, csid, vmid, rr, rr, st, act, diag, mta, occ,
                       det::jsonb
                FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[],
                            $8::uuid[], $9::uuid[], $10::text[], $11::text[], $12::text[], $13::text[],
                            $14::text[], $15::text[], $16::timestamptz[], $17::text[])
                     AS x(sid, pos, src, cls, rul, ftype, cmid, omid, csid, vmid, rr, st, act, diag, mta, occ, det)
                RETURNING {_REPORT_COLUMNS}""",
            *columns,
        )
        return sorted((_report(row) for row in stored), key=lambda report: report.id)

    async def sent_messages(
        self, message_ids: Sequence[UUID], vendor_ids: Sequence[tuple[UUID, str]]
    ) -> tuple[dict[UUID, SentMessage], dict[tuple[UUID, str], SentMessage]]:
        """The sent messages with these ids, and those with these (server, vendor message id)."""
        by_id: dict[UUID, SentMessage] = {}
        by_vendor: dict[tuple[UUID, str], SentMessage] = {}
        if message_ids:
            for row in await self._conn.fetch(
                f"SELECT {_SENT_COLUMNS} FROM sent_messages WHERE message_id = ANY($1::uuid[])",
                list(set(message_ids)),
            ):
                by_id[row["message_id"]] = _sent(row)
        if vendor_ids:
            pairs = sorted(set(vendor_ids))
            for row in await self._conn.fetch(
                f"""SELECT {_SENT_COLUMNS} FROM sent_messages
                    WHERE (server_id, vendor_message_id) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))""",
                [pair[0] for pair in pairs],
                [pair[1] for pair in pairs],
            ):
                by_vendor[(row["server_id"], row["vendor_message_id"])] = _sent(row)
        return by_id, by_vendor

    async def record_matches(self, matches: Sequence[Match]) -> None:
        if not matches:
            return
        await self._conn.execute(
            """UPDATE feedback f
               SET message_id = m.mid, tenant_id = m.tid, campaign_id = m.cid, run_id = m.rid, server_id = m.sid,
                   recipient = m.rcpt, recipient_mismatch = m.mismatch
               FROM unnest($1::bigint[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[],
                           $8::boolean[]) AS m(id, mid, tid, cid, rid, sid, rcpt, mismatch)
               WHERE f.id = m.id""",
            [found.report.id for found in matches],
            [found.message.message_id for found in matches],
            [found.message.tenant_id for found in matches],
            [found.message.campaign_id for found in matches],
            [found.message.run_id for found in matches],
            [found.message.server_id for found in matches],
            [found.recipient_key for found in matches],
            [not found.recipient_agrees for found in matches],
        )

    async def soft_bounce_counts(
        self, pairs: Sequence[tuple[UUID, str]], *, since: datetime
    ) -> dict[tuple[UUID, str], int]:
        """Matched soft bounces of each (tenant, address) received since `since`, this transaction's included."""
        if not pairs:
            return {}
        unique = sorted(set(pairs))
        rows = await self._conn.fetch(
            """SELECT tenant_id, recipient, count(*) AS n FROM feedback
               WHERE class = 'soft' AND message_id IS NOT NULL AND NOT recipient_mismatch AND received_at > $3
                 AND (tenant_id, recipient) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))
               GROUP BY tenant_id, recipient""",
            [pair[0] for pair in unique],
            [pair[1] for pair in unique],
            since,
        )
        return {(row["tenant_id"], row["recipient"]): row["n"] for row in rows}

    async def suppress(self, suppressions: Sequence[Suppression], *, actor: str) -> list[Suppression]:
        changed = await suppress(self._conn, suppressions)
        await audit(self._conn, actor, suppression_audit("suppression.added", changed))
        return changed

    async def unsuppress_caused_by(self, feedback_id: int, *, actor: str) -> list[Suppression]:
        """Lift the suppressions this feedback made."""
        rows = await self._conn.fetch(
            """DELETE FROM suppressions WHERE feedback_id = $1
               RETURNING tenant_id, address, reason, source, expires_at, feedback_id""",
            feedback_id,
        )
        removed = [suppression_of(row) for row in rows]
        await audit(self._conn, actor, suppression_audit("suppression.removed", removed))
        return removed

    async def publish(self, events: Sequence[tuple[int, StatusEvent]]) -> None:
        """Put the status events in the outbox, and remember which feedback caused which."""
        if not events:
            return
        await record(
            self._conn,
            STATUS_EXCHANGE.name,
            StatusBatch.of(event for _, event in events),
            channel=OUTBOX_CHANNEL,
        )
        await self._conn.execute(
            """UPDATE feedback f SET published_status = e.status
               FROM unnest($1::bigint[], $2::text[]) AS e(id, status) WHERE f.id = e.id""",
            [feedback_id for feedback_id, _ in events],
            [event.status.value for _, event in events],
        )

    async def unmatched_since(self, since: datetime, *, after_id: int, limit: int) -> list[Report]:
        """Unmatched reports received since `since` that name a message somehow (their `sent`
        event may have come after them), from `after_id` on; locked, so two replicas never act on one."""
        rows = await self._conn.fetch(
            f"""SELECT {_REPORT_COLUMNS} FROM feedback
                WHERE message_id IS NULL AND received_at > $1 AND id > $2
                  AND (claimed_message_id IS NOT NULL OR original_message_id IS NOT NULL
                       OR vendor_message_id IS NOT NULL)
                ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED""",
            since,
            after_id,
            limit,
        )
        return [_report(row) for row in rows]

    async def for_reclassification(
        self, feedback_id: int
    ) -> tuple[Report, SentMessage | None, str | None] | None:
        """A report, locked, with the message it is matched to and the status event it caused."""
        row = await self._conn.fetchrow(
            f"SELECT {_REPORT_COLUMNS}, message_id, published_status FROM feedback WHERE id = $1 FOR UPDATE",
            feedback_id,
        )
        if row is None:
            return None
        message = None
        if row["message_id"] is not None:
            sent = await self._conn.fetchrow(
                f"SELECT {_SENT_COLUMNS} FROM sent_messages WHERE message_id = $1", row["message_id"]
            )
            message = _sent(sent) if sent is not None else None
        return _report(row), message, row["published_status"]

    async def reclassify(
        self, feedback_id: int, new_class: FeedbackClass, *, by: str, note: str
    ) -> tuple[str, UUID | None]:
        """Change the class (the first one is kept as `original_class`); returns the former class and the tenant."""
        row = await self._conn.fetchrow(
            """UPDATE feedback f SET class = $2, original_class = coalesce(f.original_class, old.class),
                   reclassified_by = $3, reclassified_at = now(), reclassify_note = $4
               FROM (SELECT id, class FROM feedback WHERE id = $1) AS old
               WHERE f.id = old.id
               RETURNING old.class AS former, f.tenant_id""",
            feedback_id,
            new_class.value,
            by,
            note,
        )
        assert row is not None, "locked by for_reclassification in this transaction"
        await audit(
            self._conn,
            by,
            [
                (
                    "feedback.reclassified",
                    str(feedback_id),
                    row["tenant_id"],
                    {"from": row["former"], "to": new_class.value, "note": note},
                )
            ],
        )
        return row["former"], row["tenant_id"]

    async def clear_published_status(self, feedback_id: int) -> None:
        await self._conn.execute("UPDATE feedback SET published_status = NULL WHERE id = $1", feedback_id)


class PgFeedbackStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FeedbackTransaction]:
        async with self._database.pool.acquire() as conn, conn.transaction():
            yield FeedbackTransaction(conn)

    async def prune(self, before: datetime, *, batch: int = 1000) -> int:
        """Delete sources received before `before` with their reports (ON DELETE CASCADE), a batch at a
        time; a suppression one caused stays, its `feedback_id` set to NULL."""
        pruned = 0
        while True:
            status = await self._database.pool.execute(
                """DELETE FROM feedback_sources WHERE id IN
                       (SELECT id FROM feedback_sources WHERE received_at < $1 ORDER BY id LIMIT $2)""",
                before,
                batch,
            )
            deleted = int(status.split()[-1])
            pruned += deleted
            if deleted < batch:
                return pruned


class PgSentMessages:
    """`sent_messages`, filled from the `sent` status events and pruned after the retention."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def remember(self, events: Sequence[StatusEvent]) -> None:
        if not events:
            return
        unique = sorted({event.message_id: event for event in events}.values(), key=lambda e: e.message_id)
        await self._database.pool.execute(
            f"""INSERT INTO sent_messages ({_SENT_COLUMNS})
                SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[],
                                     $7::text[], $8::text[], $9::timestamptz[])
                ON CONFLICT (message_id) DO NOTHING""",
            [e.message_id for e in unique],
            [e.tenant_id for e in unique],
            [e.campaign_id for e in unique],
            [e.run_id for e in unique],
            [e.server_id for e in unique],
            [e.vendor for e in unique],
            [e.recipient for e in unique],
            [e.vendor_message_id for e in unique],
            [e.occurred_at for e in unique],
        )

    async def prune(self, before: datetime, *, batch: int = 5000) -> int:
        """Forget messages sent before `before`, a batch at a time (short transactions); returns how many."""
        pruned = 0
        while True:
            status = await self._database.pool.execute(
                """DELETE FROM sent_messages WHERE message_id IN
                       (SELECT message_id FROM sent_messages WHERE sent_at < $1 LIMIT $2)""",
                before,
                batch,
            )
            deleted = int(status.split()[-1])
            pruned += deleted
            if deleted < batch:
                return pruned
