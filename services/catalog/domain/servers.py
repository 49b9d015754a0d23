"""A sending server and the rules of its lifecycle.

A server starts inactive and is never probed on save. It may be enabled only when its latest
connection test, taken after the latest change of its connection settings, passed; changing its
connection settings makes it inactive again until it is tested and enabled. An active server may
be paused with a reason (by its owner, or by the bounces service past its thresholds) and resumed;
disabling is a separate decision that also ends a pause. Every change bumps `version`, so a
consumer of catalog events can ignore a stale one.

The operator's pause or disable is a sanction, not a state the owner may undo: it puts the server
on hold, and until the operator resumes or enables it the owner can neither resume nor enable it,
nor shake it off by changing its settings (the server stays as the operator left it). A pause by
the owner or by the bounces service holds nothing: the owner may resume it.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any, Literal
from uuid import UUID, uuid4

from services.catalog.domain.identity import Identity
from shared.contracts import (
    BounceHandling,
    DestinationRule,
    IdentityVerification,
    SendingLimits,
    ServerReputation,
    ServerState,
    ServerView,
    WarmupSchedule,
)
from shared.errors import Conflict, Forbidden


class Unchanged(Enum):
    """Marks an edit that leaves a field alone where None is a value (no warmup)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True)
class ProbeOutcome:
    ok: bool
    message: str
    tested_at: datetime


@dataclass(frozen=True)
class Pause:
    reason: str
    by: str  # who paused: "operator", "tenant", or the service that asked (e.g. "bounces")
    at: datetime


OPERATOR_PAUSE = "operator"
TENANT_PAUSE = "tenant"


HoldAction = Literal["paused", "disabled"]


@dataclass(frozen=True)
class Hold:
    """The operator's sanction: what it did (`paused` or `disabled`), why and when. Only it lifts it."""

    action: HoldAction
    reason: str
    at: datetime


HELD_PAUSED: HoldAction = "paused"
HELD_DISABLED: HoldAction = "disabled"

PROBE_SUCCEEDED = "Connection successful."
PROBE_FAILED = "Connection failed: "


def probe_outcome(ok: bool, reason: str, tested_at: datetime) -> ProbeOutcome:
    """A test's outcome in the words an owner reads: "Connection successful." or "Connection failed: <reason>"."""
    message = PROBE_SUCCEEDED if ok else PROBE_FAILED + reason.removeprefix(PROBE_FAILED)
    return ProbeOutcome(ok=ok, message=message, tested_at=tested_at)


@dataclass(frozen=True)
class Server:
    id: UUID
    tenant_id: UUID | None
    name: str
    type: str
    vendor: str
    settings: dict[str, Any]
    sealed_secrets: str = field(repr=False)
    state: ServerState
    limits: SendingLimits
    warmup: WarmupSchedule | None
    destination_rules: list[DestinationRule]
    settings_changed_at: datetime
    last_test: ProbeOutcome | None
    version: int
    created_at: datetime
    updated_at: datetime
    identity: Identity | None = None
    sealed_dkim_key: str | None = field(default=None, repr=False)
    bounce_handling: BounceHandling = field(default_factory=BounceHandling)
    pause: Pause | None = None  # set exactly when the state is paused
    hold: Hold | None = None  # the operator's pause or disable, until the operator lifts it
    identity_verification: IdentityVerification | None = None  # of the current identity; None: not checked
    # The bounces service's last report, stored apart (a measurement, not a change): read, never written here.
    reputation: ServerReputation | None = None

    @property
    def is_pool_server(self) -> bool:
        return self.tenant_id is None

    @property
    def pause_reason(self) -> str | None:
        return self.pause.reason if self.pause else None

    def view(self) -> ServerView:
        return ServerView(
            id=self.id,
            tenant_id=self.tenant_id,
            name=self.name,
            type=self.type,
            vendor=self.vendor,
            state=self.state,
            limits=self.limits,
            warmup=self.warmup,
            destination_rules=self.destination_rules,
            identity=self.identity.public if self.identity else None,
            bounce_handling=self.bounce_handling,
            pause_reason=self.pause_reason,
            identity_verification=self.identity_verification,
            reputation=self.reputation,
            version=self.version,
        )

    def _changed(self, now: datetime, **changes: Any) -> "Server":
        return replace(self, **changes, version=self.version + 1, updated_at=now)


def new_server(
    *,
    tenant_id: UUID | None,
    name: str,
    type: str,
    vendor: str,
    settings: dict[str, Any],
    sealed_secrets: str,
    limits: SendingLimits,
    warmup: WarmupSchedule | None = None,
    destination_rules: list[DestinationRule] | None = None,
    identity: Identity | None = None,
    sealed_dkim_key: str | None = None,
    bounce_handling: BounceHandling | None = None,
    now: datetime,
) -> Server:
    return Server(
        id=uuid4(),
        tenant_id=tenant_id,
        name=name,
        type=type,
        vendor=vendor,
        settings=settings,
        sealed_secrets=sealed_secrets,
        state=ServerState.INACTIVE,
        limits=limits,
        warmup=warmup,
        destination_rules=destination_rules or [],
        settings_changed_at=now,
        last_test=None,
        version=1,
        created_at=now,
        updated_at=now,
        identity=identity,
        sealed_dkim_key=sealed_dkim_key,
        bounce_handling=bounce_handling or BounceHandling(),
    )


def enable_refusal(server: Server) -> str | None:
    """Why the server may not be enabled now, or None if it may."""
    test = server.last_test
    if test is None:
        return "never tested"
    if test.tested_at < server.settings_changed_at:
        return "settings changed since the last test"
    if not test.ok:
        return f"last test failed: {test.message}"
    return None


def refuse_if_held(server: Server, what: str) -> None:
    """A sanction binds the owner: only the operator may `what` (resume, enable, ...) a held server."""
    hold = server.hold
    if hold is not None:
        raise Forbidden(
            f"server {server.id} is on hold: the operator {hold.action} it ({hold.reason}); "
            f"only the operator can {what} it"
        )


def enable(
    server: Server, now: datetime, *, by_operator: bool = False, verified_identity_required: bool = False
) -> Server:
    """Enable a tested server; the operator's enable also lifts its hold, the owner's is refused while held.
    With `verified_identity_required`, a server with an identity also needs its last verification passed."""
    if not by_operator:
        refuse_if_held(server, "enable")
    if server.state is ServerState.ACTIVE:
        return server
    if server.state is ServerState.PAUSED:
        raise Conflict(
            f"server {server.id} is paused ({server.pause_reason}); "
            f"resume it with POST /servers/{server.id}/resume"
        )
    refusal = enable_refusal(server)
    if refusal is not None:
        raise Conflict(
            f"server {server.id} cannot be enabled: {refusal}; "
            f"a passing POST /servers/{server.id}/test is needed first"
        )
    unverified = verification_refusal(server) if verified_identity_required else None
    if unverified is not None:
        raise Conflict(f"server {server.id} cannot be enabled: {unverified}")
    return server._changed(now, state=ServerState.ACTIVE, hold=None)


def disable(server: Server, now: datetime, *, hold_reason: str | None = None) -> Server:
    """Disable a server; with `hold_reason` (the operator's) it stays disabled until the operator enables it."""
    hold = server.hold
    if hold_reason is not None and (hold is None or hold.action != HELD_DISABLED):
        hold = Hold(action=HELD_DISABLED, reason=hold_reason, at=now)
    if server.state is ServerState.DISABLED and hold == server.hold:
        return server
    return server._changed(now, state=ServerState.DISABLED, pause=None, hold=hold)


def pause(server: Server, reason: str, by: str, now: datetime, *, hold: bool = False) -> Server:
    """Stop an active server for a while; pausing a paused one keeps the first reason, which is the cause.

    With `hold` (the operator's pause) the owner cannot resume it, also when it was paused already."""
    held = server.hold or (Hold(action=HELD_PAUSED, reason=reason, at=now) if hold else None)
    if server.state is ServerState.PAUSED:
        return server if held == server.hold else server._changed(now, hold=held)
    if server.state is not ServerState.ACTIVE:
        raise Conflict(
            f"server {server.id} is {server.state.value}: it sends nothing, so there is nothing to pause"
        )
    return server._changed(
        now, state=ServerState.PAUSED, pause=Pause(reason=reason, by=by, at=now), hold=held
    )


def resume(server: Server, now: datetime, *, by_operator: bool = False) -> Server:
    """End a pause; the operator's resume also lifts its hold, the owner's is refused while held.

    The passing test that let the server be enabled still holds, unless its settings changed while it
    was held: then it comes back inactive, to be tested and enabled again."""
    if not by_operator:
        refuse_if_held(server, "resume")
    if server.state is ServerState.ACTIVE:
        return server
    if server.state is not ServerState.PAUSED:
        raise Conflict(
            f"server {server.id} is {server.state.value}, not paused; "
            f"enable it with POST /servers/{server.id}/enable"
        )
    state = ServerState.ACTIVE if enable_refusal(server) is None else ServerState.INACTIVE
    return server._changed(now, state=state, pause=None, hold=None)


@dataclass(frozen=True)
class Edit:
    """An owner's change; what is None (or UNCHANGED where None is a value) stays as it is.

    `settings` is (plain settings, sealed secrets) that differ from the current ones, and
    `identity` is (identity, sealed DKIM key) or None to remove it.
    """

    name: str | None = None
    limits: SendingLimits | None = None
    warmup: WarmupSchedule | None | Unchanged = UNCHANGED
    destination_rules: list[DestinationRule] | None = None
    bounce_handling: BounceHandling | None = None
    identity: tuple[Identity, str | None] | None | Unchanged = UNCHANGED
    settings: tuple[dict[str, Any], str] | None = None


def edit(server: Server, now: datetime, change: Edit) -> Server:
    """Apply an owner's edit as one change. Untested connection settings make the server inactive,
    whatever its state was (a pause ends with it), except on hold: a held server stays as the operator
    left it, and the new settings must pass a test before it is active again. Nothing else touches the
    state."""
    changes: dict[str, Any] = {}
    if change.name is not None and change.name != server.name:
        changes["name"] = change.name
    if change.limits is not None and change.limits != server.limits:
        changes["limits"] = change.limits
    if change.warmup is not UNCHANGED and change.warmup != server.warmup:
        changes["warmup"] = change.warmup
    if change.destination_rules is not None and change.destination_rules != server.destination_rules:
        changes["destination_rules"] = change.destination_rules
    if change.bounce_handling is not None and change.bounce_handling != server.bounce_handling:
        changes["bounce_handling"] = change.bounce_handling
    if change.identity is not UNCHANGED:
        identity, sealed_key = change.identity or (None, None)
        # The last verification checked the former identity's DNS: it says nothing of the new one.
        changes.update(identity=identity, sealed_dkim_key=sealed_key, identity_verification=None)
    if change.settings is not None:
        settings, sealed_secrets = change.settings
        changes.update(settings=settings, sealed_secrets=sealed_secrets, settings_changed_at=now)
        if server.hold is None:
            changes.update(state=ServerState.INACTIVE, pause=None)
    return server._changed(now, **changes) if changes else server


REFUSAL_CHECKS_SHOWN = 5


def verification_refusal(server: Server) -> str | None:
    """Why the server's identity does not count as verified, naming the failing checks and what to
    publish; None when it passed, or when the server has no identity (it sends as its vendor account
    is set up, which the catalog cannot see)."""
    if server.identity is None:
        return None
    verification = server.identity_verification
    if verification is None:
        return f"the operator requires a verified identity and it was never checked; POST /servers/{server.id}/verify"
    if verification.verified:
        return None
    failing = [check for check in verification.checks if not check.ok]
    listed = [
        f"{check.name.value} for {check.domain}: {check.detail}"
        + (f" (publish: {check.publish})" if check.publish else "")
        for check in failing[:REFUSAL_CHECKS_SHOWN]
    ]
    more = len(failing) - len(listed)
    return (
        "the operator requires a verified identity, and these DNS checks failed: "
        + "; ".join(listed)
        + (f"; and {more} more (GET /servers/{server.id})" if more > 0 else "")
    )


def record_verification(server: Server, verification: IdentityVerification, now: datetime) -> Server:
    return server._changed(now, identity_verification=verification)


def record_test(server: Server, outcome: ProbeOutcome, now: datetime) -> Server:
    return server._changed(now, last_test=outcome)
