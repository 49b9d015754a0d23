"""Verify a server's sending identity in DNS: on `POST /servers/{id}/verify`, and before an enable
when the operator requires verified identities.

The lookups run outside any transaction (they take up to the DNS deadline); the outcome is then
recorded on the server as one change, announced like any other, unless the identity changed
meanwhile: a verification of the former identity would say nothing true of the new one.
Changing the identity does not verify it (a save never waits on DNS); it clears the last outcome.
"""

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from services.catalog.app.ports import CatalogStore, DnsLookup, SecretBox
from services.catalog.app.servers import dkim_key_of, granted_server_ids
from services.catalog.domain import servers as lifecycle
from services.catalog.domain.access import Actor, require_managed
from services.catalog.domain.identity_checks import PublishedKey, VerificationPolicy, evaluate, questions
from services.catalog.domain.servers import Server
from shared.contracts import CatalogEventKind, IdentityVerification, ServerState, utcnow
from shared.dkim_keys import parse_dkim_key
from shared.errors import Conflict, NotFound


class IdentityVerifier:
    def __init__(
        self,
        store: CatalogStore,
        secret_box: SecretBox,
        dns: DnsLookup,
        policy: VerificationPolicy,
        *,
        required: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._box = secret_box
        self._dns = dns
        self._policy = policy
        self._required = required
        self._now = clock

    @property
    def required(self) -> bool:
        """Whether a server with an identity is enabled only once its identity passed (the operator's setting)."""
        return self._required

    async def verify(self, actor: Actor, server_id: UUID) -> Server:
        """Check the server's identity in DNS now and keep the outcome; the owner or the operator only."""
        server = await self._read_managed(actor, server_id)
        if server.identity is None:
            raise Conflict(
                f"server {server_id} has no identity to verify; give it one with PATCH /servers/{server_id}"
            )
        return await self._record(server, await self.check(server))

    async def verify_before_enable(self, actor: Actor, server_id: UUID) -> None:
        """Re-check before an enable, so that records published since the last check count (and records
        taken down since do too). Nothing to do unless required, for a server without an identity, or
        for one already active (enabling it changes nothing)."""
        if not self._required:
            return
        server = await self._read_managed(actor, server_id)
        if server.identity is None or server.state is ServerState.ACTIVE:
            return
        await self._record(server, await self.check(server))

    async def check(self, server: Server) -> IdentityVerification:
        """The checks of the server's identity against DNS as it answers now; nothing is stored."""
        if server.identity is None:
            raise ValueError(f"server {server.id} has no identity")
        identity = server.identity.public
        started_at = self._now()
        answers = await self._dns.answers(questions(identity))
        return evaluate(identity, self._signing_key(server), answers, self._policy, started_at)

    def _signing_key(self, server: Server) -> PublishedKey | None:
        """The record the key the worker signs with needs: derived from the stored private key itself,
        so that what is checked is what signs."""
        pem = dkim_key_of(server, self._box)
        selector = server.identity.public.dkim_selector if server.identity else None
        if pem is None or selector is None:
            return None
        key = parse_dkim_key(pem)
        return PublishedKey(selector=selector, algorithm=key.algorithm, public_key=key.public_key)

    async def _read_managed(self, actor: Actor, server_id: UUID) -> Server:
        async with self._store.transaction() as tx:
            granted = await granted_server_ids(tx, actor)
            return require_managed(actor, await tx.get_server(server_id), granted, server_id)

    async def _record(self, checked: Server, verification: IdentityVerification) -> Server:
        async with self._store.transaction() as tx:
            current = await tx.get_server(checked.id, lock=True)
            if current is None:
                raise NotFound(f"server {checked.id} not found")
            if current.identity != checked.identity:
                raise Conflict(
                    f"server {checked.id}'s identity changed while it was being verified; verify it again"
                )
            verified = lifecycle.record_verification(current, verification, self._now())
            await tx.update_server(verified)
            await tx.record_event(CatalogEventKind.SERVER_CHANGED, server=verified.view())
        return verified
