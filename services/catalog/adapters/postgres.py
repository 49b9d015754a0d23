"""The catalog's schema through asyncpg: plain SQL, one transaction per use case, an outbox beside the data."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from pydantic import ValidationError

from services.catalog.adapters.postgres_tokens import PostgresTokenRecords
from services.catalog.app.ports import (
    PendingEvents,
    SealedSecrets,
    ServerQuery,
    ServerScope,
    UnreadableEvent,
)
from services.catalog.domain.identity import Identity
from services.catalog.domain.servers import Hold, Pause, ProbeOutcome, Server
from shared.contracts import (
    BounceHandling,
    CatalogEvent,
    CatalogEventKind,
    DestinationRule,
    IdentityVerification,
    PlanView,
    SendingLimits,
    SendingPolicy,
    ServerIdentity,
    ServerReputation,
    ServerState,
    TenantView,
    WarmupSchedule,
)
from shared.db import Database, DbConnection

log = structlog.get_logger("catalog.postgres")

OUTBOX_CHANNEL = "catalog_outbox"

# Writers take this lock before numbering an event and hold it to commit, so events commit in id
# order: a relay or a snapshot that has seen event N has seen every event before it.
_LOCK_EVENT_ORDER = """
SELECT pg_advisory_xact_lock(hashtext('sendpool.catalog.outbox-order'))
"""
_NEXT_EVENT_ID = "SELECT nextval(pg_get_serial_sequence('outbox', 'id'))"
_INSERT_EVENT = """
WITH inserted AS (
    INSERT INTO outbox (id, kind, payload) VALUES ($1, $2, $3) RETURNING id
)
SELECT pg_notify($4, id::text) FROM inserted
"""

# The newest published event stays whatever its age: a snapshot's last_event_id is the outbox's highest
# id, and the sequence cannot stand in for it (it counts ids of transactions not committed yet).
# Rows locked by another replica's pruning are skipped rather than waited for.
_PRUNE_PUBLISHED = """
WITH pruned AS (
    DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox
        WHERE published_at < now() - $1::interval
          AND id < (SELECT max(id) FROM outbox WHERE published_at IS NOT NULL)
        ORDER BY id
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    )
    RETURNING 1
)
SELECT count(*) FROM pruned
"""

# Stored as they are, in the columns named as the Server's fields.
_SAME_NAMED_COLUMNS = (
    "id", "tenant_id", "name", "type", "vendor", "settings", "settings_changed_at", "version", "created_at",
    "updated_at",
)  # fmt: skip
_SERVER_COLUMN_NAMES = (
    *_SAME_NAMED_COLUMNS, "secrets", "state", "limits", "warmup", "destination_rules", "last_test_at",
    "last_test_ok", "last_test_message", "identity", "dkim_key", "bounce_handling", "pause_reason", "paused_by",
    "paused_at", "hold_action", "hold_reason", "held_at", "identity_verification",
)  # fmt: skip
_SERVER_COLUMNS = ", ".join(_SERVER_COLUMN_NAMES)
# What a server is read with: its columns and the bounces service's last report (`server_reputation`),
# which is stored apart and never written with the server. A subquery rather than a join, so that
# `FOR UPDATE` locks the server's row alone.
_SERVER_SELECTED = (
    f"{_SERVER_COLUMNS}, "
    "(SELECT r.reputation FROM server_reputation r WHERE r.server_id = servers.id) AS reputation"
)
_INSERT_SERVER = (
    f"INSERT INTO servers ({_SERVER_COLUMNS}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_SERVER_COLUMN_NAMES) + 1))})"
)
_UPDATE_SERVER = "UPDATE servers SET {} WHERE id = $1".format(
    ", ".join(f"{name} = ${n}" for n, name in enumerate(_SERVER_COLUMN_NAMES, start=1) if name != "id")
)

_PLAN_SELECT = """
SELECT p.id, p.name, p.allow_own_servers, p.server_quota, p.managed_pool,
       coalesce(array_agg(ps.server_id ORDER BY ps.position) FILTER (WHERE ps.server_id IS NOT NULL), '{}')
           AS server_ids
FROM plans p
LEFT JOIN plan_servers ps ON ps.plan_id = p.id
"""

# $1 tenant (NULL: every server), $2 the pool servers its plan grants, $3 an ILIKE pattern over name
# and host (NULL: any), $4 states (empty: any), $5 types (empty: any).
_SERVER_FILTER = """
WHERE ($1::uuid IS NULL OR tenant_id = $1 OR (tenant_id IS NULL AND id = ANY($2::uuid[])))
  AND ($3::text IS NULL OR name ILIKE $3 OR settings->>'host' ILIKE $3)
  AND (cardinality($4::text[]) = 0 OR state = ANY($4::text[]))
  AND (cardinality($5::text[]) = 0 OR type = ANY($5::text[]))
"""


def _like_pattern(text: str | None) -> str | None:
    """`text` anywhere, with LIKE's wildcards in it taken literally."""
    if not text:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _identity(row: asyncpg.Record) -> Identity | None:
    stored = row["identity"]
    if stored is None:
        return None
    return Identity(
        public=ServerIdentity.model_validate(stored["public"]),
        dkim_algorithm=stored.get("dkim_algorithm"),
        dkim_public_key=stored.get("dkim_public_key"),
    )


def _identity_value(identity: Identity | None) -> dict[str, Any] | None:
    if identity is None:
        return None
    return {
        "public": identity.public.model_dump(mode="json"),
        "dkim_algorithm": identity.dkim_algorithm,
        "dkim_public_key": identity.dkim_public_key,
    }


def _server(row: asyncpg.Record) -> Server:
    last_test = None
    if row["last_test_at"] is not None:
        last_test = ProbeOutcome(
            ok=row["last_test_ok"], message=row["last_test_message"], tested_at=row["last_test_at"]
        )
    pause = None
    if row["pause_reason"] is not None:
        pause = Pause(reason=row["pause_reason"], by=row["paused_by"], at=row["paused_at"])
    hold = None
    if row["hold_action"] is not None:
        hold = Hold(action=row["hold_action"], reason=row["hold_reason"], at=row["held_at"])
    return Server(
        **{name: row[name] for name in _SAME_NAMED_COLUMNS},
        sealed_secrets=row["secrets"],
        state=ServerState(row["state"]),
        limits=SendingLimits.model_validate(row["limits"]),
        warmup=WarmupSchedule.model_validate(row["warmup"]) if row["warmup"] is not None else None,
        destination_rules=[DestinationRule.model_validate(rule) for rule in row["destination_rules"]],
        last_test=last_test,
        identity=_identity(row),
        sealed_dkim_key=row["dkim_key"],
        bounce_handling=BounceHandling.model_validate(row["bounce_handling"]),
        pause=pause,
        hold=hold,
        reputation=ServerReputation.model_validate(row["reputation"])
        if row["reputation"] is not None
        else None,
        identity_verification=IdentityVerification.model_validate(row["identity_verification"])
        if row["identity_verification"] is not None
        else None,
    )


def _server_values(server: Server) -> list[Any]:
    """The server's columns in the order of _SERVER_COLUMN_NAMES."""
    test, pause, hold = server.last_test, server.pause, server.hold
    columns: dict[str, Any] = {
        **{name: getattr(server, name) for name in _SAME_NAMED_COLUMNS},
        "secrets": server.sealed_secrets,
        "state": server.state.value,
        "limits": server.limits.model_dump(mode="json", exclude_none=True),
        "warmup": server.warmup.model_dump(mode="json") if server.warmup else None,
        "destination_rules": [rule.model_dump(mode="json") for rule in server.destination_rules],
        "last_test_at": test.tested_at if test else None,
        "last_test_ok": test.ok if test else None,
        "last_test_message": test.message if test else None,
        "identity": _identity_value(server.identity),
        "dkim_key": server.sealed_dkim_key,
        "bounce_handling": server.bounce_handling.model_dump(mode="json"),
        "pause_reason": pause.reason if pause else None,
        "paused_by": pause.by if pause else None,
        "paused_at": pause.at if pause else None,
        "hold_action": hold.action if hold else None,
        "hold_reason": hold.reason if hold else None,
        "held_at": hold.at if hold else None,
        "identity_verification": server.identity_verification.model_dump(mode="json")
        if server.identity_verification
        else None,
    }
    return [columns[name] for name in _SERVER_COLUMN_NAMES]


class PostgresCatalogTransaction:
    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn
        self.tokens = PostgresTokenRecords(conn)

    # ------------------------------------------------------------------ tenants

    async def get_tenant(self, tenant_id: UUID, *, lock: bool = False) -> TenantView | None:
        row = await self._conn.fetchrow(
            "SELECT id, name, plan_id FROM tenants WHERE id = $1" + (" FOR UPDATE" if lock else ""), tenant_id
        )
        return TenantView.model_validate(dict(row)) if row else None

    async def list_tenants(self) -> list[TenantView]:
        rows = await self._conn.fetch("SELECT id, name, plan_id FROM tenants ORDER BY created_at, id")
        return [TenantView.model_validate(dict(row)) for row in rows]

    async def save_tenant(self, tenant: TenantView) -> None:
        await self._conn.execute(
            """
            INSERT INTO tenants (id, name, plan_id) VALUES ($1, $2, $3)
            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, plan_id = EXCLUDED.plan_id, updated_at = now()
            """,
            tenant.id,
            tenant.name,
            tenant.plan_id,
        )

    # ------------------------------------------------------------------ plans

    async def get_plan(self, plan_id: UUID) -> PlanView | None:
        row = await self._conn.fetchrow(_PLAN_SELECT + "WHERE p.id = $1 GROUP BY p.id", plan_id)
        return PlanView.model_validate(dict(row)) if row else None

    async def list_plans(self) -> list[PlanView]:
        rows = await self._conn.fetch(_PLAN_SELECT + "GROUP BY p.id ORDER BY p.created_at, p.id")
        return [PlanView.model_validate(dict(row)) for row in rows]

    async def save_plan(self, plan: PlanView) -> None:
        await self._conn.execute(
            """
            INSERT INTO plans (id, name, allow_own_servers, server_quota, managed_pool) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, allow_own_servers = EXCLUDED.allow_own_servers,
                server_quota = EXCLUDED.server_quota, managed_pool = EXCLUDED.managed_pool, updated_at = now()
            """,
            plan.id,
            plan.name,
            plan.allow_own_servers,
            plan.server_quota,
            plan.managed_pool,
        )
        await self._conn.execute("DELETE FROM plan_servers WHERE plan_id = $1", plan.id)
        await self._conn.execute(
            """
            INSERT INTO plan_servers (plan_id, server_id, position)
            SELECT $1, server_id, position FROM unnest($2::uuid[]) WITH ORDINALITY AS granted (server_id, position)
            """,
            plan.id,
            plan.server_ids,
        )

    # ------------------------------------------------------------------ servers

    async def get_server(self, server_id: UUID, *, lock: bool = False) -> Server | None:
        row = await self._conn.fetchrow(
            f"SELECT {_SERVER_SELECTED} FROM servers WHERE id = $1" + (" FOR UPDATE" if lock else ""),
            server_id,
        )
        return _server(row) if row else None

    async def get_servers(
        self, server_ids: Sequence[UUID], *, share_lock: bool = False
    ) -> dict[UUID, Server]:
        rows = await self._conn.fetch(
            f"SELECT {_SERVER_SELECTED} FROM servers WHERE id = ANY($1::uuid[]) ORDER BY id"
            + (" FOR SHARE" if share_lock else ""),
            server_ids,
        )
        return {row["id"]: _server(row) for row in rows}

    async def list_servers(self) -> list[Server]:
        rows = await self._conn.fetch(f"SELECT {_SERVER_SELECTED} FROM servers ORDER BY created_at, id")
        return [_server(row) for row in rows]

    async def list_servers_of(self, tenant_id: UUID, *, also: Sequence[UUID] = ()) -> list[Server]:
        rows = await self._conn.fetch(
            f"SELECT {_SERVER_SELECTED} FROM servers WHERE tenant_id = $1 OR id = ANY($2::uuid[]) ORDER BY created_at, id",
            tenant_id,
            also,
        )
        return [_server(row) for row in rows]

    async def find_servers(self, scope: ServerScope | None, query: ServerQuery) -> tuple[list[Server], int]:
        arguments = (
            scope.tenant_id if scope else None,
            sorted(scope.granted) if scope else [],
            _like_pattern(query.text),
            [state.value for state in query.states],
            list(query.types),
        )
        total = await self._conn.fetchval(f"SELECT count(*) FROM servers {_SERVER_FILTER}", *arguments)
        rows = await self._conn.fetch(
            f"SELECT {_SERVER_SELECTED} FROM servers {_SERVER_FILTER} ORDER BY created_at, id LIMIT $6 OFFSET $7",
            *arguments,
            query.limit,
            query.offset,
        )
        return [_server(row) for row in rows], total

    async def save_reputation(self, server_id: UUID, reputation: ServerReputation) -> bool:
        """Keep the server's reputation unless a newer one is kept already. False: not kept (no such
        server, or an older measurement than the one kept)."""
        stored = await self._conn.fetchval(
            """
            INSERT INTO server_reputation (server_id, reputation, measured_at)
            SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM servers WHERE id = $1)
            ON CONFLICT (server_id) DO UPDATE
                SET reputation = EXCLUDED.reputation, measured_at = EXCLUDED.measured_at, reported_at = now()
                WHERE server_reputation.measured_at <= EXCLUDED.measured_at
            RETURNING true
            """,
            server_id,
            reputation.model_dump(mode="json"),
            reputation.measured_at,
        )
        return bool(stored)

    async def count_servers_of(self, tenant_id: UUID) -> int:
        return int(await self._conn.fetchval("SELECT count(*) FROM servers WHERE tenant_id = $1", tenant_id))

    async def add_server(self, server: Server) -> None:
        await self._conn.execute(_INSERT_SERVER, *_server_values(server))

    async def update_server(self, server: Server) -> None:
        await self._conn.execute(_UPDATE_SERVER, *_server_values(server))

    async def delete_server(self, server_id: UUID) -> None:
        # plan_servers goes with it (ON DELETE CASCADE); sending policies keep their selection on purpose.
        await self._conn.execute("DELETE FROM servers WHERE id = $1", server_id)

    async def plans_granting(self, server_id: UUID) -> list[UUID]:
        granting: list[UUID] = await self._conn.fetchval(
            """
            SELECT coalesce(array_agg(p.id ORDER BY p.created_at, p.id), '{}')
            FROM plans p JOIN plan_servers ps ON ps.plan_id = p.id WHERE ps.server_id = $1
            """,
            server_id,
        )
        return granting

    async def sealed_secrets(self) -> dict[UUID, SealedSecrets]:
        rows = await self._conn.fetch("SELECT id, secrets, dkim_key FROM servers ORDER BY id FOR UPDATE")
        return {row["id"]: SealedSecrets(settings=row["secrets"], dkim_key=row["dkim_key"]) for row in rows}

    async def replace_sealed_secrets(self, sealed: dict[UUID, SealedSecrets]) -> None:
        await self._conn.executemany(
            "UPDATE servers SET secrets = $2, dkim_key = $3 WHERE id = $1",
            [(server_id, secrets.settings, secrets.dkim_key) for server_id, secrets in sealed.items()],
        )

    # ------------------------------------------------------------------ sending policies

    async def get_policy(self, campaign_id: UUID) -> SendingPolicy | None:
        row = await self._conn.fetchrow(
            "SELECT campaign_id, tenant_id, use_all, selection, version FROM sending_policies WHERE campaign_id = $1",
            campaign_id,
        )
        return SendingPolicy.model_validate(dict(row)) if row else None

    async def narrowed_policies_of(self, tenant_id: UUID) -> list[SendingPolicy]:
        rows = await self._conn.fetch(
            """
            SELECT campaign_id, tenant_id, use_all, selection, version FROM sending_policies
            WHERE tenant_id = $1 AND NOT use_all ORDER BY campaign_id FOR UPDATE
            """,
            tenant_id,
        )
        return [SendingPolicy.model_validate(dict(row)) for row in rows]

    async def save_policy(self, policy: SendingPolicy) -> SendingPolicy | None:
        row = await self._conn.fetchrow(
            """
            INSERT INTO sending_policies (campaign_id, tenant_id, use_all, selection, version)
            VALUES ($1, $2, $3, $4, 1)
            ON CONFLICT (campaign_id) DO UPDATE SET use_all = EXCLUDED.use_all, selection = EXCLUDED.selection,
                version = sending_policies.version + 1, updated_at = now(),
                -- The caller verified the owner with the scheduler: a row another tenant stored
                -- before owners were verified goes back to the campaign's real owner.
                tenant_id = EXCLUDED.tenant_id
            RETURNING campaign_id, tenant_id, use_all, selection, version
            """,
            policy.campaign_id,
            policy.tenant_id,
            policy.use_all,
            [entry.model_dump(mode="json") for entry in policy.selection],
        )
        return SendingPolicy.model_validate(dict(row)) if row else None

    # ------------------------------------------------------------------ outbox

    async def record_event(self, kind: CatalogEventKind, **subject: Any) -> int:
        await self._conn.execute(_LOCK_EVENT_ORDER)
        event_id: int = await self._conn.fetchval(_NEXT_EVENT_ID)
        event = CatalogEvent(event_id=event_id, kind=kind, **subject)
        await self._conn.execute(
            _INSERT_EVENT, event_id, kind.value, event.model_dump(mode="json"), OUTBOX_CHANNEL
        )
        return event_id

    async def last_event_id(self) -> int:
        return int(await self._conn.fetchval("SELECT coalesce(max(id), 0) FROM outbox"))


class PostgresCatalogStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresCatalogTransaction]:
        async with self._database.pool.acquire() as conn, conn.transaction():
            yield PostgresCatalogTransaction(conn)

    @asynccontextmanager
    async def consistent_read(self) -> AsyncIterator[PostgresCatalogTransaction]:
        async with (
            self._database.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield PostgresCatalogTransaction(conn)


_PENDING_EVENTS = """
SELECT id, kind, payload FROM outbox WHERE published_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT $1
"""
_PARK_EVENTS = """
UPDATE outbox SET parked_at = now(), parked_reason = parked.reason
FROM unnest($1::bigint[], $2::text[]) AS parked (id, reason)
WHERE outbox.id = parked.id
"""


class _ClaimedEvents:
    """A batch claimed by the relay, and the events it set aside."""

    def __init__(self, events: list[CatalogEvent | UnreadableEvent]) -> None:
        self.events = events
        self.parked: dict[int, str] = {}

    def park(self, event_id: int, reason: str) -> None:
        self.parked[event_id] = reason


def _read_event(row: asyncpg.Record) -> CatalogEvent | UnreadableEvent:
    try:
        return CatalogEvent.model_validate(row["payload"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the payload"
        problem = f"{exc.error_count()} validation error(s), the first at {where}: {first['msg']}"
        return UnreadableEvent(event_id=row["id"], kind=row["kind"], problem=problem)


class PostgresOutbox:
    """The outbox as the relay sees it: batches claimed under a lock only one replica holds, and NOTIFY."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._listener: asyncpg.Connection | None = None
        self._recorded = asyncio.Event()

    @asynccontextmanager
    async def pending(self, limit: int) -> AsyncIterator[PendingEvents]:
        async with self._database.pool.acquire() as conn, conn.transaction():
            # One relay at a time across replicas: batches claimed side by side would be published out of order.
            if not await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtext('sendpool.catalog.outbox-relay'))"
            ):
                yield _ClaimedEvents([])
                return
            rows = await conn.fetch(_PENDING_EVENTS, limit)
            batch = _ClaimedEvents([_read_event(row) for row in rows])
            yield batch
            if batch.parked:
                await conn.execute(_PARK_EVENTS, list(batch.parked), list(batch.parked.values()))
            published = [row["id"] for row in rows if row["id"] not in batch.parked]
            if published:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", published
                )

    async def prune(self, older_than: timedelta, limit: int) -> int:
        return int(await self._database.pool.fetchval(_PRUNE_PUBLISHED, older_than, limit))

    async def wait_for_new(self, timeout: float) -> None:
        await self._listen()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._recorded.wait(), timeout)
        self._recorded.clear()

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            # A connection of its own rather than one of the pool's: it listens for as long as the relay runs.
            self._listener = await asyncpg.connect(self._database.url)
            await self._listener.add_listener(OUTBOX_CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError) as exc:  # polling still works; try again next round
            log.warning("cannot listen for outbox notifications", error=repr(exc))
            self._listener = None
        else:
            # Events recorded while nobody listened are found by the round this wake-up triggers.
            self._recorded.set()

    def _on_notify(self, *_: object) -> None:
        self._recorded.set()

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
