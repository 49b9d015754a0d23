"""The suppression lists, and the feedback and the audit log as the API shows them, in PostgreSQL.

The suppression check (`bounces.rpc`) is one query per batch of addresses, a tenant's list and
the global one together; an expired suppression counts for nothing.
"""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from services.bounces.adapters.feedback_store import audit, suppress, suppression_audit, suppression_of
from services.bounces.domain.actions import Suppression
from shared.db import Database

_ACTIVE = "(expires_at IS NULL OR expires_at > now())"


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_FEEDBACK_COLUMNS = """f.id, f.received_at, f.source, f.class, f.rule, f.feedback_type, f.message_id, f.tenant_id,
    f.campaign_id, f.run_id, f.server_id, f.recipient, f.reported_recipient, f.recipient_mismatch, f.status_code,
    f.action, f.diagnostic, f.remote_mta, f.occurred_at, f.published_status, f.original_class, f.reclassified_by,
    f.reclassified_at, f.reclassify_note"""


class PgSuppressionStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def check(self, tenant_id: UUID, addresses: Sequence[str]) -> dict[str, str]:
        """The suppressed ones among `addresses` (lower-cased), for `tenant_id` or globally, with why."""
        if not addresses:
            return {}
        rows = await self._database.pool.fetch(
            f"""SELECT address, reason, tenant_id IS NULL AS global FROM suppressions
                WHERE address = ANY($2::text[]) AND (tenant_id = $1 OR tenant_id IS NULL) AND {_ACTIVE}""",
            tenant_id,
            list(set(addresses)),
        )
        reasons: dict[str, str] = {}
        for row in sorted(rows, key=lambda r: r["global"]):  # the global reason wins where both are
            scope = "global suppression list" if row["global"] else "suppression list"
            reasons[row["address"]] = f"{scope}: {row['reason']}"
        return reasons

    async def page(
        self,
        tenant_id: UUID | None,
        *,
        contains: str | None,
        source: str | None,
        after: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Active suppressions of one list (`tenant_id` None: the global one), by address."""
        rows = await self._database.pool.fetch(
            f"""SELECT address, reason, source, created_at, expires_at, feedback_id FROM suppressions
                WHERE tenant_id IS NOT DISTINCT FROM $1 AND {_ACTIVE}
                  AND ($2::text IS NULL OR address LIKE $2) AND ($3::text IS NULL OR source = $3)
                  AND ($4::text IS NULL OR address > $4)
                ORDER BY address LIMIT $5""",
            tenant_id,
            _like(contains.lower()) if contains else None,
            source,
            after,
            limit,
        )
        return [dict(row) for row in rows]

    async def active(self, tenant_id: UUID | None, addresses: Sequence[str]) -> dict[str, dict[str, Any]]:
        rows = await self._database.pool.fetch(
            f"""SELECT address, reason, source, created_at, expires_at, feedback_id FROM suppressions
                WHERE tenant_id IS NOT DISTINCT FROM $1 AND address = ANY($2::text[]) AND {_ACTIVE}""",
            tenant_id,
            list(set(addresses)),
        )
        return {row["address"]: dict(row) for row in rows}

    async def add(self, suppressions: Sequence[Suppression], *, actor: str) -> list[Suppression]:
        """Add, audited; returns those that changed something (an active suppression is never weakened)."""
        async with self._database.pool.acquire() as conn, conn.transaction():
            changed = await suppress(conn, suppressions)
            await audit(conn, actor, suppression_audit("suppression.added", changed))
        return changed

    async def remove(self, tenant_id: UUID | None, address: str, *, actor: str) -> Suppression | None:
        async with self._database.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """DELETE FROM suppressions WHERE tenant_id IS NOT DISTINCT FROM $1 AND address = $2
                   RETURNING tenant_id, address, reason, source, expires_at, feedback_id""",
                tenant_id,
                address,
            )
            if row is None:
                return None
            removed = suppression_of(row)
            await audit(conn, actor, suppression_audit("suppression.removed", [removed]))
        return removed


class PgFeedbackViews:
    """Feedback and the audit log as the API shows them."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def feedback_page(
        self,
        *,
        tenant_id: UUID | None,
        feedback_class: str | None,
        campaign_id: UUID | None,
        server_id: UUID | None,
        matched: bool | None,
        before: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        rows = await self._database.pool.fetch(
            f"""SELECT {_FEEDBACK_COLUMNS} FROM feedback f
                WHERE ($1::uuid IS NULL OR f.tenant_id = $1) AND ($2::text IS NULL OR f.class = $2)
                  AND ($3::uuid IS NULL OR f.campaign_id = $3) AND ($4::uuid IS NULL OR f.server_id = $4)
                  AND ($5::boolean IS NULL OR (f.message_id IS NOT NULL) = $5)
                  AND ($6::bigint IS NULL OR f.id < $6)
                ORDER BY f.id DESC LIMIT $7""",
            tenant_id,
            feedback_class,
            campaign_id,
            server_id,
            matched,
            before,
            limit,
        )
        return [dict(row) for row in rows]

    async def feedback(self, feedback_id: int) -> dict[str, Any] | None:
        row = await self._database.pool.fetchrow(
            f"""SELECT {_FEEDBACK_COLUMNS}, f.details, s.raw, s.raw_size
                FROM feedback f JOIN feedback_sources s ON s.id = f.source_id WHERE f.id = $1""",
            feedback_id,
        )
        return dict(row) if row is not None else None

    async def audit_page(self, *, before: int | None, limit: int) -> list[dict[str, Any]]:
        rows = await self._database.pool.fetch(
            """SELECT id, at, actor, action, subject, tenant_id, details FROM audit_log
               WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2""",
            before,
            limit,
        )
        return [dict(row) for row in rows]
