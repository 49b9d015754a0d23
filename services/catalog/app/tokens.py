"""Tenant API tokens: issued by the operator, listed and revoked by the operator or the tenant itself.

Only the operator issues tokens, so the revoked tokens every service keeps in memory grow only
with what the operator issued; a tenant whose token leaked revokes it at once and asks for another.
A tenant asking about another tenant's tokens is told they do not exist (404), never forbidden.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from services.catalog.app.ports import CatalogStore, CatalogTransaction
from services.catalog.domain.access import Actor
from services.catalog.domain.tokens import TokenRecord
from shared.auth import TenantToken, new_token_id
from shared.contracts import CatalogEventKind, RevokedToken
from shared.errors import InvalidInput, NotFound

TokenSigner = Callable[[UUID, str, datetime | None], str]
"""Signs a token: (tenant, token id, expiry or None) → the token."""
TokenReader = Callable[[str], TenantToken | None]
"""What a token says, if its signature is right (expired or not)."""


async def record_new_token(
    tx: CatalogTransaction, sign: TokenSigner, tenant_id: UUID, *, label: str, expires_at: datetime | None
) -> tuple[TokenRecord, str]:
    """A new token of the tenant, recorded in `tx`; the token itself is returned, never stored."""
    record = TokenRecord(
        id=new_token_id(),
        tenant_id=tenant_id,
        label=label,
        created_at=datetime.now(UTC),
        expires_at=expires_at,
    )
    await tx.tokens.save(record)
    return record, sign(tenant_id, record.id, expires_at)


class Tokens:
    def __init__(self, store: CatalogStore, sign: TokenSigner, read: TokenReader) -> None:
        self._store = store
        self._sign = sign
        self._read = read

    async def issue(
        self, tenant_id: UUID, *, label: str, expires_at: datetime | None
    ) -> tuple[TokenRecord, str]:
        """The operator's: a further token of the tenant (the only time it is shown)."""
        async with self._store.transaction() as tx:
            if await tx.get_tenant(tenant_id) is None:
                raise NotFound(f"tenant {tenant_id} not found")
            return await record_new_token(tx, self._sign, tenant_id, label=label, expires_at=expires_at)

    async def of_tenant(self, actor: Actor, tenant_id: UUID, *, limit: int, offset: int) -> list[TokenRecord]:
        """The tenant's tokens, newest first: what each is and whether it was revoked, never the token."""
        async with self._store.transaction() as tx:
            await _require_reachable_tenant(tx, actor, tenant_id)
            return await tx.tokens.of_tenant(tenant_id, limit=limit, offset=offset)

    async def revoke(self, actor: Actor, tenant_id: UUID, token_id: str) -> TokenRecord:
        """Revoke one of the tenant's tokens by its id; revoking it again changes nothing."""
        async with self._store.transaction() as tx:
            await _require_reachable_tenant(tx, actor, tenant_id)
            record = await tx.tokens.get(token_id, lock=True)
            if record is None or record.tenant_id != tenant_id:
                raise NotFound(f"token {token_id} of tenant {tenant_id} not found")
            return await _revoke(tx, actor, record)

    async def revoke_presented(self, actor: Actor, token: str) -> TokenRecord:
        """Revoke the token given in full: the way to revoke a token issued before tokens were
        recorded (and any token whose id is not at hand)."""
        read = self._read(token)
        if read is None:
            raise InvalidInput.field("token", "not a token of this platform (its signature does not match)")
        async with self._store.transaction() as tx:
            await _require_reachable_tenant(tx, actor, read.tenant_id, not_found="token not found")
            record = await tx.tokens.get(read.token_id, lock=True)
            if record is None:
                record = TokenRecord(
                    id=read.token_id,
                    tenant_id=read.tenant_id,
                    label="",
                    created_at=None,
                    expires_at=read.expires_at,
                )
            elif record.tenant_id != read.tenant_id:
                raise NotFound("token not found")
            return await _revoke(tx, actor, record)

    async def revoked(self) -> list[RevokedToken]:
        """Every revoked token that has not expired: what a service starting must refuse."""
        async with self._store.transaction() as tx:
            return [record.revocation() for record in await tx.tokens.revoked_unexpired()]


async def _require_reachable_tenant(
    tx: CatalogTransaction, actor: Actor, tenant_id: UUID, *, not_found: str | None = None
) -> None:
    if (not actor.is_operator and actor.tenant_id != tenant_id) or await tx.get_tenant(tenant_id) is None:
        raise NotFound(not_found or f"tenant {tenant_id} not found")


async def _revoke(tx: CatalogTransaction, actor: Actor, record: TokenRecord) -> TokenRecord:
    if record.revoked:
        return record
    by = "operator" if actor.is_operator else f"tenant {actor.tenant_id}"
    revoked = record.revoke(by=by, at=datetime.now(UTC))
    await tx.tokens.save(revoked)
    await tx.record_event(CatalogEventKind.TOKEN_REVOKED, token=revoked.revocation())
    return revoked
