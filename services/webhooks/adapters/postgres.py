"""Endpoints, kept events, pending deliveries and the delivery log in PostgreSQL."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.webhooks.app.ports import Attempt, Claimed, NewEndpoint, TooManyEndpoints, TooManyEvents
from services.webhooks.domain.endpoints import Endpoint
from services.webhooks.domain.payloads import StoredEvent
from shared.db import Database
from shared.events import Event

_ENDPOINT_COLUMNS = """id, tenant_id, url, description, event_types, enabled, disabled_reason, created_at,
    updated_at, failing_since, next_attempt_at"""

_UPDATABLE = ("url", "description", "event_types", "enabled")


def _endpoint(row: asyncpg.Record) -> Endpoint:
    return Endpoint(
        id=row["id"],
        tenant_id=row["tenant_id"],
        url=row["url"],
        description=row["description"],
        event_types=list(row["event_types"]) if row["event_types"] is not None else None,
        enabled=row["enabled"],
        disabled_reason=row["disabled_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        failing_since=row["failing_since"],
        next_attempt_at=row["next_attempt_at"],
    )


class PgWebhookStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    # ------------------------------------------------------------------ endpoints (the API)

    async def create(self, endpoint: NewEndpoint, *, max_per_tenant: int) -> Endpoint:
        async with self._database.pool.acquire() as connection, connection.transaction():
            # Two registrations at once must not both pass the count.
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext('webhooks.endpoints.' || $1::text))",
                str(endpoint.tenant_id),
            )
            count = await connection.fetchval(
                "SELECT count(*) FROM endpoints WHERE tenant_id = $1", endpoint.tenant_id
            )
            if count >= max_per_tenant:
                raise TooManyEndpoints()
            row = await connection.fetchrow(
                f"""INSERT INTO endpoints (id, tenant_id, url, description, event_types, secret_sealed)
                    VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_ENDPOINT_COLUMNS}""",
                endpoint.id,
                endpoint.tenant_id,
                endpoint.url,
                endpoint.description,
                endpoint.event_types,
                endpoint.secret_sealed,
            )
        assert row is not None  # INSERT … RETURNING returns the row
        return _endpoint(row)

    async def get(self, tenant_id: UUID, endpoint_id: UUID) -> Endpoint | None:
        row = await self._database.pool.fetchrow(
            f"SELECT {_ENDPOINT_COLUMNS} FROM endpoints WHERE id = $1 AND tenant_id = $2",
            endpoint_id,
            tenant_id,
        )
        return _endpoint(row) if row else None

    async def of_tenant(self, tenant_id: UUID) -> list[Endpoint]:
        rows = await self._database.pool.fetch(
            f"SELECT {_ENDPOINT_COLUMNS} FROM endpoints WHERE tenant_id = $1 ORDER BY created_at, id",
            tenant_id,
        )
        return [_endpoint(row) for row in rows]

    async def update(self, tenant_id: UUID, endpoint_id: UUID, changes: dict[str, Any]) -> Endpoint | None:
        columns = [column for column in _UPDATABLE if column in changes]
        assignments = [f"{column} = ${position}" for position, column in enumerate(columns, start=3)]
        if changes.get("enabled") is True:
            # Enabled again (by its tenant): a fresh start, its pending events go out at once.
            assignments += [
                "disabled_reason = NULL",
                "failures = 0",
                "failing_since = NULL",
                "next_attempt_at = NULL",
            ]
        elif changes.get("enabled") is False:
            assignments.append("disabled_reason = 'disabled by its tenant'")
        assignments.append("updated_at = now()")
        row = await self._database.pool.fetchrow(
            f"""UPDATE endpoints SET {", ".join(assignments)} WHERE id = $1 AND tenant_id = $2
                RETURNING {_ENDPOINT_COLUMNS}""",
            endpoint_id,
            tenant_id,
            *(changes[column] for column in columns),
        )
        return _endpoint(row) if row else None

    async def delete(self, tenant_id: UUID, endpoint_id: UUID) -> bool:
        deleted = await self._database.pool.fetchval(
            "DELETE FROM endpoints WHERE id = $1 AND tenant_id = $2 RETURNING id", endpoint_id, tenant_id
        )
        return deleted is not None

    async def has_endpoints(self, tenant_id: UUID) -> bool:
        found = await self._database.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM endpoints WHERE tenant_id = $1)", tenant_id
        )
        return bool(found)

    async def tenants_with_endpoints(self) -> list[UUID]:
        rows = await self._database.pool.fetch("SELECT DISTINCT tenant_id FROM endpoints ORDER BY tenant_id")
        return [row["tenant_id"] for row in rows]

    async def rotate_secret(
        self, tenant_id: UUID, endpoint_id: UUID, secret_sealed: str, previous_until: datetime
    ) -> Endpoint | None:
        row = await self._database.pool.fetchrow(
            f"""UPDATE endpoints SET previous_secret_sealed = secret_sealed, previous_secret_until = $3,
                    secret_sealed = $4, updated_at = now()
                WHERE id = $1 AND tenant_id = $2 RETURNING {_ENDPOINT_COLUMNS}""",
            endpoint_id,
            tenant_id,
            previous_until,
            secret_sealed,
        )
        return _endpoint(row) if row else None

    async def deliveries(
        self, tenant_id: UUID, endpoint_id: UUID, *, before: int | None, limit: int
    ) -> list[dict[str, Any]] | None:
        async with self._database.pool.acquire() as connection:
            if not await connection.fetchval(
                "SELECT true FROM endpoints WHERE id = $1 AND tenant_id = $2", endpoint_id, tenant_id
            ):
                return None
            rows = await connection.fetch(
                """SELECT id, attempted_at, webhook_id, event_ids, status_code, error, duration_ms, succeeded
                   FROM deliveries WHERE endpoint_id = $1 AND ($2::bigint IS NULL OR id < $2)
                   ORDER BY id DESC LIMIT $3""",
                endpoint_id,
                before,
                limit,
            )
        return [dict(row) for row in rows]

    async def replay(
        self, tenant_id: UUID, endpoint_id: UUID, start: datetime, end: datetime, *, max_events: int
    ) -> int | None:
        async with self._database.pool.acquire() as connection, connection.transaction():
            endpoint = await connection.fetchrow(
                "SELECT event_types FROM endpoints WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
                endpoint_id,
                tenant_id,
            )
            if endpoint is None:
                return None
            window = """FROM events WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3
                        AND ($4::text[] IS NULL OR type = ANY($4))"""
            found = await connection.fetchval(
                f"SELECT count(*) FROM (SELECT 1 {window} LIMIT $5) AS capped",
                tenant_id,
                start,
                end,
                endpoint["event_types"],
                max_events + 1,
            )
            if found > max_events:
                raise TooManyEvents(found)
            status = await connection.execute(
                f"""INSERT INTO pending (endpoint_id, event_id)
                    SELECT $5, event_id {window} ORDER BY occurred_at, event_id
                    ON CONFLICT DO NOTHING""",
                tenant_id,
                start,
                end,
                endpoint["event_types"],
                endpoint_id,
            )
            await connection.execute(
                "UPDATE endpoints SET next_attempt_at = NULL WHERE id = $1 AND failures = 0", endpoint_id
            )
        return int(status.split()[-1]) if found else 0

    # ------------------------------------------------------------------ the queue (ingest and sender)

    async def ingest(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        status = await self._database.pool.execute(
            """WITH incoming AS (
                   SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::text[])
                       WITH ORDINALITY AS i (event_id, tenant_id, type, occurred_at, body, position)
                   WHERE tenant_id IN (SELECT tenant_id FROM endpoints)
               ), kept AS (
                   INSERT INTO events (event_id, tenant_id, type, occurred_at, body)
                   SELECT event_id, tenant_id, type, occurred_at, body::jsonb FROM incoming
                   ON CONFLICT (event_id) DO NOTHING
                   RETURNING event_id, tenant_id, type
               )
               INSERT INTO pending (endpoint_id, event_id)
               SELECT endpoint.id, kept.event_id
               FROM kept JOIN incoming USING (event_id)
               JOIN endpoints AS endpoint ON endpoint.tenant_id = kept.tenant_id AND endpoint.enabled
                    AND (endpoint.event_types IS NULL OR kept.type = ANY(endpoint.event_types))
               ORDER BY incoming.occurred_at, incoming.position
               ON CONFLICT DO NOTHING""",
            [event.event_id for event in events],
            [event.tenant_id for event in events],
            [str(event.type) for event in events],
            [event.occurred_at for event in events],
            [event.model_dump_json() for event in events],
        )
        return int(status.split()[-1])

    async def claim(self, limit: int, *, tenant_cap: int, lease_seconds: float) -> list[Claimed]:
        rows = await self._database.pool.fetch(
            """WITH due AS (
                   SELECT e.id, e.tenant_id, e.last_attempt_at,
                          row_number() OVER (PARTITION BY e.tenant_id ORDER BY e.last_attempt_at NULLS FIRST, e.id)
                            + (SELECT count(*) FROM endpoints AS busy
                               WHERE busy.tenant_id = e.tenant_id AND busy.lease_until > now()) AS slot
                   FROM endpoints AS e
                   WHERE e.enabled AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= now())
                     AND (e.lease_until IS NULL OR e.lease_until <= now())
                     AND EXISTS (SELECT 1 FROM pending AS p WHERE p.endpoint_id = e.id)
               ), chosen AS (
                   SELECT e.id FROM endpoints AS e JOIN due USING (id)
                   WHERE due.slot <= $2
                   ORDER BY due.last_attempt_at NULLS FIRST, e.id
                   LIMIT $1
                   FOR UPDATE OF e SKIP LOCKED
               )
               UPDATE endpoints AS e
               SET lease_until = now() + make_interval(secs => $3), last_attempt_at = now()
               FROM chosen WHERE e.id = chosen.id AND (e.lease_until IS NULL OR e.lease_until <= now())
               RETURNING e.id, e.tenant_id, e.url, e.secret_sealed, e.previous_secret_sealed,
                         e.previous_secret_until, e.failures, e.failing_since""",
            limit,
            tenant_cap,
            lease_seconds,
        )
        return [Claimed(**dict(row)) for row in rows]

    async def due_events(self, endpoint_id: UUID, limit: int) -> list[StoredEvent]:
        rows = await self._database.pool.fetch(
            """SELECT ev.event_id, ev.type, ev.occurred_at, ev.body FROM pending AS p
               JOIN events AS ev USING (event_id)
               WHERE p.endpoint_id = $1 ORDER BY p.seq LIMIT $2""",
            endpoint_id,
            limit,
        )
        return [
            StoredEvent(
                row["event_id"],
                row["type"],
                row["occurred_at"],
                row["body"] if isinstance(row["body"], dict) else json.loads(row["body"]),
            )
            for row in rows
        ]

    async def _log(self, connection: Any, endpoint_id: UUID, attempt: Attempt) -> None:
        await connection.execute(
            """INSERT INTO deliveries (endpoint_id, attempted_at, webhook_id, event_ids, status_code, error,
                   duration_ms, succeeded) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            endpoint_id,
            attempt.attempted_at,
            attempt.webhook_id,
            list(attempt.event_ids),
            attempt.status_code,
            attempt.error,
            attempt.duration_ms,
            attempt.succeeded,
        )

    async def delivered(self, endpoint_id: UUID, attempt: Attempt) -> None:
        async with self._database.pool.acquire() as connection, connection.transaction():
            exists = await connection.fetchval(
                """UPDATE endpoints SET failures = 0, failing_since = NULL, next_attempt_at = NULL,
                       lease_until = NULL WHERE id = $1 RETURNING true""",
                endpoint_id,
            )
            if not exists:  # deleted while the request was in flight
                return
            await connection.execute(
                "DELETE FROM pending WHERE endpoint_id = $1 AND event_id = ANY($2::uuid[])",
                endpoint_id,
                list(attempt.event_ids),
            )
            await self._log(connection, endpoint_id, attempt)

    async def failed(
        self, endpoint_id: UUID, attempt: Attempt, *, next_attempt_at: datetime, disable_reason: str | None
    ) -> None:
        async with self._database.pool.acquire() as connection, connection.transaction():
            exists = await connection.fetchval(
                """UPDATE endpoints SET failures = failures + 1, failing_since = coalesce(failing_since, $2),
                       next_attempt_at = $3, lease_until = NULL,
                       enabled = enabled AND $4::text IS NULL,
                       disabled_reason = coalesce($4, disabled_reason),
                       updated_at = CASE WHEN $4::text IS NULL THEN updated_at ELSE now() END
                   WHERE id = $1 RETURNING true""",
                endpoint_id,
                attempt.attempted_at,
                next_attempt_at,
                disable_reason,
            )
            if exists:
                await self._log(connection, endpoint_id, attempt)

    async def release(self, endpoint_id: UUID) -> None:
        await self._database.pool.execute(
            "UPDATE endpoints SET lease_until = NULL WHERE id = $1", endpoint_id
        )

    async def prune(self, *, events_before: datetime, log_before: datetime) -> tuple[int, int]:
        async with self._database.pool.acquire() as connection:
            events = await connection.execute("DELETE FROM events WHERE received_at < $1", events_before)
            log = await connection.execute("DELETE FROM deliveries WHERE attempted_at < $1", log_before)
        return int(events.split()[-1]), int(log.split()[-1])
