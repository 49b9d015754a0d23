"""Sending servers: create, list, change, test and test-send through the vendor's delivery worker,
enable, disable, pause, resume and delete."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from services.catalog.app.ports import (
    CatalogStore,
    CatalogTransaction,
    IdentityGate,
    Prober,
    SecretBox,
    ServerQuery,
    ServerScope,
)
from services.catalog.domain import servers as lifecycle
from services.catalog.domain.access import (
    TENANT_SERVERS_MAX,
    Actor,
    Visibility,
    own_server_refusal,
    require_managed,
    require_operator_for_new_server_of,
    require_operator_for_server_of,
    require_visible,
    visibility,
)
from services.catalog.domain.identity import Identity, validate_identity
from services.catalog.domain.server_types import ConnectionSettings, ServerTypeRegistry
from services.catalog.domain.servers import (
    OPERATOR_PAUSE,
    TENANT_PAUSE,
    UNCHANGED,
    Edit,
    ProbeOutcome,
    Server,
    Unchanged,
)
from services.catalog.domain.trial_message import trial_message
from shared.contracts import (
    BounceHandling,
    CatalogEventKind,
    DestinationRule,
    ProbeRequest,
    SendingLimits,
    ServerConnectionSettings,
    ServerIdentitySettings,
    WarmupSchedule,
    utcnow,
)
from shared.errors import Forbidden, InvalidInput, NotFound

DEFAULT_DISABLE_REASON = "disabled by the operator"


@dataclass(frozen=True)
class VisibleServer:
    server: Server
    shared: bool  # granted by the caller's plan: readable and usable, not changeable


@dataclass(frozen=True)
class ServerPage:
    servers: list[VisibleServer]
    total: int  # servers matching the query, on every page


@dataclass(frozen=True)
class TestSendOutcome:
    ok: bool
    message: str
    to: str
    sent_at: datetime


def delivery_settings(server: Server, box: SecretBox) -> ServerConnectionSettings:
    """Everything the delivery worker needs in clear: the connection settings and, if set, the identity
    with its DKIM key. Given point to point only (the `ServerSettingsRequest` reply), never in an event
    or a queued request."""
    identity = None
    if server.identity is not None:
        identity = ServerIdentitySettings(**server.identity.values(dkim_key_of(server, box)))
    settings = ConnectionSettings(plain=server.settings, secrets=box.open(server.sealed_secrets))
    return ServerConnectionSettings(identity=identity, **settings.merged())


def dkim_key_of(server: Server, box: SecretBox) -> str | None:
    """The server's DKIM private key in clear (PEM), or None when it does not sign."""
    return box.open(server.sealed_dkim_key)["pem"] if server.sealed_dkim_key else None


class _IdentitiesNotRequired:
    required = False

    async def verify_before_enable(self, actor: Actor, server_id: UUID) -> None:
        return None


_NO_IDENTITY_GATE = _IdentitiesNotRequired()


async def granted_server_ids(tx: CatalogTransaction, actor: Actor) -> frozenset[UUID]:
    """The pool servers the actor's plan grants (none for the operator, who manages them all)."""
    if actor.tenant_id is None:
        return frozenset()
    tenant = await tx.get_tenant(actor.tenant_id)
    plan = await tx.get_plan(tenant.plan_id) if tenant and tenant.plan_id else None
    return frozenset(plan.server_ids) if plan else frozenset()


async def scope_of(tx: CatalogTransaction, actor: Actor) -> ServerScope | None:
    """The servers the actor may see; None for the operator, who sees them all."""
    if actor.tenant_id is None:
        return None
    return ServerScope(tenant_id=actor.tenant_id, granted=await granted_server_ids(tx, actor))


def _as_visible(actor: Actor, servers: list[Server], granted: frozenset[UUID]) -> list[VisibleServer]:
    listed = []
    for server in servers:
        seen = visibility(actor, server, granted)
        if seen is not Visibility.HIDDEN:
            listed.append(VisibleServer(server, shared=seen is Visibility.SHARED))
    return listed


async def visible_servers(tx: CatalogTransaction, actor: Actor) -> list[VisibleServer]:
    if actor.tenant_id is None:  # the operator
        return [VisibleServer(server, shared=False) for server in await tx.list_servers()]
    granted = await granted_server_ids(tx, actor)
    return _as_visible(actor, await tx.list_servers_of(actor.tenant_id, also=sorted(granted)), granted)


class Servers:
    def __init__(
        self,
        store: CatalogStore,
        secret_box: SecretBox,
        prober: Prober,
        server_types: ServerTypeRegistry,
        clock: Callable[[], datetime] = utcnow,
        tenant_servers_max: int = TENANT_SERVERS_MAX,
        identity_gate: IdentityGate = _NO_IDENTITY_GATE,
    ) -> None:
        self._store = store
        self._identity_gate = identity_gate
        self._box = secret_box
        self._prober = prober
        self._types = server_types
        self._now = clock
        self._tenant_servers_max = tenant_servers_max

    async def create(
        self,
        actor: Actor,
        *,
        name: str,
        type: str,
        settings: dict[str, Any],
        limits: SendingLimits | None = None,
        warmup: WarmupSchedule | None = None,
        destination_rules: list[DestinationRule] | None = None,
        identity: dict[str, Any] | None = None,
        bounce_handling: BounceHandling | None = None,
        tenant_id: UUID | None = None,
    ) -> Server:
        """Save a server inactive and untested: it is probed only when its owner asks for a test."""
        spec = self._types.get(type)
        validated = spec.validate_settings(settings)
        require_operator_for_new_server_of(actor, spec, tenant_id)
        checked_identity, dkim_key = validate_identity(identity) if identity is not None else (None, None)
        async with self._store.transaction() as tx:
            owner = await self._owner_for_new_server(tx, actor, tenant_id)
            server = lifecycle.new_server(
                tenant_id=owner,
                name=name,
                type=spec.name,
                vendor=spec.vendor,
                settings=validated.plain,
                sealed_secrets=self._box.seal(validated.secrets),
                limits=limits or SendingLimits(),
                warmup=warmup,
                destination_rules=destination_rules,
                identity=checked_identity,
                sealed_dkim_key=self._seal_key(dkim_key),
                bounce_handling=bounce_handling,
                now=self._now(),
            )
            await tx.add_server(server)
            await tx.record_event(CatalogEventKind.SERVER_CHANGED, server=server.view())
        return server

    def _seal_key(self, pem: str | None) -> str | None:
        return self._box.seal({"pem": pem}) if pem is not None else None

    async def _owner_for_new_server(
        self, tx: CatalogTransaction, actor: Actor, tenant_id: UUID | None
    ) -> UUID | None:
        if actor.tenant_id is None:  # the operator
            if tenant_id is not None and await tx.get_tenant(tenant_id) is None:
                raise InvalidInput.field("tenant_id", f"tenant {tenant_id} not found")
            return tenant_id
        if tenant_id is not None and tenant_id != actor.tenant_id:
            raise Forbidden("a tenant adds servers for itself only; leave tenant_id out")
        # The tenant's row stays locked until commit, so two concurrent creates cannot both pass the quota.
        tenant = await tx.get_tenant(actor.tenant_id, lock=True)
        if tenant is None:
            raise Forbidden(f"tenant {actor.tenant_id} does not exist any more")
        plan = await tx.get_plan(tenant.plan_id) if tenant.plan_id else None
        refusal = own_server_refusal(plan, await tx.count_servers_of(tenant.id), self._tenant_servers_max)
        if refusal is not None:
            raise Forbidden(refusal)
        return tenant.id

    async def list_visible(self, actor: Actor, query: ServerQuery) -> ServerPage:
        for wanted in query.types:  # a misspelt filter would otherwise just find nothing
            self._types.get(wanted, location="query")
        async with self._store.transaction() as tx:
            scope = await scope_of(tx, actor)
            found, total = await tx.find_servers(scope, query)
        granted = scope.granted if scope else frozenset()
        return ServerPage(servers=_as_visible(actor, found, granted), total=total)

    async def get(self, actor: Actor, server_id: UUID) -> VisibleServer:
        async with self._store.transaction() as tx:
            granted = await granted_server_ids(tx, actor)
            server = require_visible(actor, await tx.get_server(server_id), granted, server_id)
        return VisibleServer(server, shared=visibility(actor, server, granted) is Visibility.SHARED)

    async def update(
        self,
        actor: Actor,
        server_id: UUID,
        *,
        name: str | None = None,
        settings: dict[str, Any] | None = None,
        limits: SendingLimits | None = None,
        warmup: WarmupSchedule | None | Unchanged = UNCHANGED,
        destination_rules: list[DestinationRule] | None = None,
        identity: dict[str, Any] | None | Unchanged = UNCHANGED,
        bounce_handling: BounceHandling | None = None,
    ) -> Server:
        """Change a server; settings and identity are merged over the current ones, so secrets need not
        be given again. New connection settings make the server inactive."""
        async with self._store.transaction() as tx:
            current = await self._managed(tx, actor, server_id, lock=True)
            change = Edit(
                name=name,
                limits=limits,
                warmup=warmup,
                destination_rules=destination_rules,
                bounce_handling=bounce_handling,
                identity=UNCHANGED if identity is UNCHANGED else self._changed_identity(current, identity),
                settings=None if settings is None else self._changed_settings(current, settings),
            )
            server = lifecycle.edit(current, self._now(), change)
            if server is not current:
                await tx.update_server(server)
                await tx.record_event(CatalogEventKind.SERVER_CHANGED, server=server.view())
        return server

    def _changed_settings(self, server: Server, patch: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
        """The server's settings with `patch` merged over them, validated and sealed; None if nothing changes."""
        current = ConnectionSettings(plain=server.settings, secrets=self._box.open(server.sealed_secrets))
        spec = self._types.of_stored(server.type)
        wanted = spec.validate_settings({**current.merged(), **patch})
        if wanted == current:
            return None
        spec.require_secrets_for_new_destination(current, wanted, given=patch.keys())
        return wanted.plain, self._box.seal(wanted.secrets)

    def _changed_identity(
        self, server: Server, patch: dict[str, Any] | None
    ) -> tuple[Identity, str | None] | None | Unchanged:
        """(identity, sealed key) with `patch` merged over the current identity, None to remove it,
        or UNCHANGED when it would come out the same."""
        if patch is None:
            return None if server.identity is not None else UNCHANGED
        current_key = dkim_key_of(server, self._box)
        base = server.identity.values(current_key) if server.identity else {}
        identity, key = validate_identity({**base, **patch})
        if identity == server.identity and key == current_key:
            return UNCHANGED
        return identity, self._seal_key(key)

    async def test(self, actor: Actor, server_id: UUID) -> ProbeOutcome:
        """Probe the server for real through its vendor's delivery worker and remember the outcome."""
        async with self._store.transaction() as tx:
            server = await self._managed(tx, actor, server_id)
        # The outcome is dated when the probe starts: settings changed while it runs make it stale.
        started_at = self._now()
        # The request names the server only: the worker fetches its secrets point to point.
        result = await self._prober.probe(server.vendor, ProbeRequest(server_id=server.id, type=server.type))
        outcome = lifecycle.probe_outcome(result.ok, result.message, started_at)
        async with self._store.transaction() as tx:
            current = await tx.get_server(server_id, lock=True)
            if current is None:
                raise NotFound(f"server {server_id} not found")
            tested = lifecycle.record_test(current, outcome, self._now())
            await tx.update_server(tested)
            await tx.record_event(CatalogEventKind.SERVER_CHANGED, server=tested.view())
        return outcome

    async def test_send(
        self, actor: Actor, server_id: UUID, to: str, from_address: str | None
    ) -> TestSendOutcome:
        """Push one real message through the server's vendor worker; nothing about the server changes.
        A server the operator holds sends nothing for its owner, not even a test."""
        async with self._store.transaction() as tx:
            server = await self._managed(tx, actor, server_id)
        if not actor.is_operator:
            lifecycle.refuse_if_held(server, "send through")
        content = trial_message(server, from_address)
        sent_at = self._now()
        result = await self._prober.probe(
            server.vendor,
            ProbeRequest(
                server_id=server.id,
                type=server.type,
                test_recipient=to,
                test_content=content,
            ),
        )
        return TestSendOutcome(ok=result.ok, message=result.message, to=to, sent_at=sent_at)

    async def enable(self, actor: Actor, server_id: UUID) -> Server:
        """Enable a tested server; the operator's enable lifts its hold, the owner's is refused while held.
        Where the operator requires verified identities, the identity is re-checked first and must pass."""
        await self._identity_gate.verify_before_enable(actor, server_id)
        required = self._identity_gate.required

        def enable(server: Server, now: datetime) -> Server:
            self._require_operator_for_type_of(actor, server, "enable")
            return lifecycle.enable(
                server, now, by_operator=actor.is_operator, verified_identity_required=required
            )

        return await self._change_state(actor, server_id, enable)

    async def disable(self, actor: Actor, server_id: UUID, reason: str | None = None) -> Server:
        """Disable a server; the operator's disable is a hold (`reason` says why) only the operator lifts."""
        hold_reason = (reason or DEFAULT_DISABLE_REASON) if actor.is_operator else None
        return await self._change_state(
            actor, server_id, lambda server, now: lifecycle.disable(server, now, hold_reason=hold_reason)
        )

    async def pause(self, actor: Actor, server_id: UUID, reason: str, *, by: str | None = None) -> Server:
        """Pause an active server; `by` names a service asking on its own behalf (e.g. the bounces service),
        whose pause the owner may resume. The operator's own pause is a hold only the operator lifts."""
        paused_by = by or (OPERATOR_PAUSE if actor.is_operator else TENANT_PAUSE)
        hold = paused_by == OPERATOR_PAUSE
        return await self._change_state(
            actor, server_id, lambda server, now: lifecycle.pause(server, reason, paused_by, now, hold=hold)
        )

    async def resume(self, actor: Actor, server_id: UUID) -> Server:
        """End a pause; the operator's resume lifts its hold, the owner's is refused while held."""

        def resume(server: Server, now: datetime) -> Server:
            self._require_operator_for_type_of(actor, server, "resume")
            return lifecycle.resume(server, now, by_operator=actor.is_operator)

        return await self._change_state(actor, server_id, resume)

    def _require_operator_for_type_of(self, actor: Actor, server: Server, what: str) -> None:
        """A tenant's own server of an operator-only type (saved before those types were the operator's)
        is not put back to work by the tenant."""
        if server.type in self._types:  # a type whose plugin went is no platform type
            require_operator_for_server_of(actor, self._types.of_stored(server.type), server, what)

    async def delete(self, actor: Actor, server_id: UUID) -> None:
        """Delete the server with its secrets and take it out of every plan that granted it.

        Campaign policies that select it keep it: a narrowed selection must never widen, so the router
        finds the server gone and, when nothing else of the selection is left, stops the campaign.
        """
        async with self._store.transaction() as tx:
            # The row lock keeps a concurrent grant from adding the server to a plan meanwhile.
            await self._managed(tx, actor, server_id, lock=True)
            granting = await tx.plans_granting(server_id)
            await tx.delete_server(server_id)
            # Recorded first: recording holds the event-order lock to commit, so the plans read next
            # include every change an earlier event announced.
            await tx.record_event(CatalogEventKind.SERVER_DELETED, deleted_id=server_id)
            for plan_id in granting:
                await tx.record_event(CatalogEventKind.PLAN_CHANGED, plan=await tx.get_plan(plan_id))

    async def _change_state(
        self, actor: Actor, server_id: UUID, change: Callable[[Server, datetime], Server]
    ) -> Server:
        async with self._store.transaction() as tx:
            current = await self._managed(tx, actor, server_id, lock=True)
            server = change(current, self._now())
            if server is not current:
                await tx.update_server(server)
                await tx.record_event(CatalogEventKind.SERVER_CHANGED, server=server.view())
        return server

    async def _managed(
        self, tx: CatalogTransaction, actor: Actor, server_id: UUID, *, lock: bool = False
    ) -> Server:
        granted = await granted_server_ids(tx, actor)
        return require_managed(actor, await tx.get_server(server_id, lock=lock), granted, server_id)
