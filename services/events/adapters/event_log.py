"""The event log in PostgreSQL (`events.event_log`, migrations/0001_initial.sql)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from services.events.app.ports import Envelope
from services.events.domain.cursor import Position
from services.events.domain.translation import search_address
from shared.db import Database
from shared.events import Event

# Arrays in, one statement: a batch of a thousand events is one round trip and one plan. The
# envelopes travel as JSON text (pydantic's serializer) and are cast by PostgreSQL.
_APPEND = """
INSERT INTO event_log (event_id, tenant_id, campaign_id, message_id, recipient, type, occurred_at, envelope)
SELECT event_id, tenant_id, campaign_id, message_id, recipient, type, occurred_at, envelope::jsonb
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::timestamptz[], $8::text[])
    AS batch(event_id, tenant_id, campaign_id, message_id, recipient, type, occurred_at, envelope)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

_MESSAGE_EVENTS = """
SELECT envelope FROM event_log
WHERE message_id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)
ORDER BY occurred_at, event_id
LIMIT $3
"""

_PRUNE = """
DELETE FROM event_log WHERE event_id IN (
    SELECT event_id FROM event_log WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2
)
"""


class PgEventLog:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def append(self, events: Sequence[Event]) -> set[UUID]:
        if not events:
            return set()
        columns: list[list[Any]] = [[] for _ in range(8)]
        for event in events:
            row = (
                event.event_id,
                event.tenant_id,
                event.campaign_id,
                event.message_id,
                search_address(event.recipient),
                event.type.value,
                event.occurred_at,
                event.model_dump_json(),
            )
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        rows = await self._database.pool.fetch(_APPEND, *columns)
        return {row["event_id"] for row in rows}

    async def message_events(self, message_id: UUID, tenant_id: UUID | None, limit: int) -> list[Envelope]:
        rows = await self._database.pool.fetch(_MESSAGE_EVENTS, message_id, tenant_id, limit)
        return [row["envelope"] for row in rows]

    async def campaign_events(
        self,
        campaign_id: UUID,
        tenant_id: UUID | None,
        *,
        recipient: str | None,
        event_type: str | None,
        after: Position | None,
        limit: int,
    ) -> list[tuple[Position, Envelope]]:
        # Only the conditions asked for, so that the planner picks the index that fits each query.
        conditions = ["campaign_id = $1"]
        arguments: list[Any] = [campaign_id]

        def condition(sql: str, *values: Any) -> None:
            placeholders = [f"${len(arguments) + index + 1}" for index in range(len(values))]
            conditions.append(sql.format(*placeholders))
            arguments.extend(values)

        if tenant_id is not None:
            condition("tenant_id = {}", tenant_id)
        if recipient is not None:
            condition("recipient = {}", recipient)
        if event_type is not None:
            condition("type = {}", event_type)
        if after is not None:
            condition("(occurred_at, event_id) > ({}, {})", after.occurred_at, after.event_id)
        arguments.append(limit)
        rows = await self._database.pool.fetch(
            f"SELECT occurred_at, event_id, envelope FROM event_log WHERE {' AND '.join(conditions)} "  # noqa: S608 - only placeholders are formatted in
            f"ORDER BY occurred_at, event_id LIMIT ${len(arguments)}",
            *arguments,
        )
        return [(Position(row["occurred_at"], row["event_id"]), row["envelope"]) for row in rows]

    async def campaign_known(self, campaign_id: UUID, tenant_id: UUID | None) -> bool:
        found = await self._database.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM event_log WHERE campaign_id = $1 AND ($2::uuid IS NULL OR tenant_id = $2))",
            campaign_id,
            tenant_id,
        )
        return bool(found)

    async def prune(self, older_than: datetime, batch_size: int) -> int:
        status = await self._database.pool.execute(_PRUNE, older_than, batch_size)
        return int(status.split()[-1])
