"""The catalog's `tokens` table through asyncpg, inside the transaction of the use case."""

from uuid import UUID

import asyncpg

from services.catalog.domain.tokens import TokenRecord
from shared.db import DbConnection

_COLUMNS = "id, tenant_id, label, created_at, expires_at, revoked_at, revoked_by"


def _record(row: asyncpg.Record) -> TokenRecord:
    return TokenRecord(**dict(row))


class PostgresTokenRecords:
    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def get(self, token_id: str, *, lock: bool = False) -> TokenRecord | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM tokens WHERE id = $1" + (" FOR UPDATE" if lock else ""), token_id
        )
        return _record(row) if row else None

    async def of_tenant(self, tenant_id: UUID, *, limit: int, offset: int) -> list[TokenRecord]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM tokens WHERE tenant_id = $1 "
            "ORDER BY created_at DESC NULLS LAST, id LIMIT $2 OFFSET $3",
            tenant_id,
            limit,
            offset,
        )
        return [_record(row) for row in rows]

    async def save(self, token: TokenRecord) -> None:
        """Insert the token, or record its revocation (nothing else of a token ever changes)."""
        await self._conn.execute(
            f"INSERT INTO tokens ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (id) DO UPDATE SET revoked_at = EXCLUDED.revoked_at, revoked_by = EXCLUDED.revoked_by",
            token.id,
            token.tenant_id,
            token.label,
            token.created_at,
            token.expires_at,
            token.revoked_at,
            token.revoked_by,
        )

    async def revoked_unexpired(self) -> list[TokenRecord]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM tokens "
            "WHERE revoked_at IS NOT NULL AND (expires_at IS NULL OR expires_at > now()) ORDER BY revoked_at"
        )
        return [_record(row) for row in rows]
