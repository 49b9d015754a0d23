"""Tenant API tokens as the catalog records them: what a token says and its fate, never the token.

A token is checked by every service from its signature and expiry alone; revoking one is the
only thing they must hear of, through `catalog.token.revoked` events.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from shared.contracts import RevokedToken
from shared.errors import InvalidInput

MIN_LIFETIME = timedelta(minutes=1)
MAX_LIFETIME = timedelta(days=3650)


@dataclass(frozen=True)
class TokenRecord:
    id: str
    tenant_id: UUID
    label: str
    created_at: datetime | None
    """None: issued before tokens were recorded (known only since it was revoked)."""
    expires_at: datetime | None
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self, *, by: str, at: datetime) -> "TokenRecord":
        return replace(self, revoked_at=at, revoked_by=by)

    def revocation(self) -> RevokedToken:
        """What every service must hear: the id to refuse (until the token expires anyway)."""
        assert self.revoked_at is not None, "only a revoked token has a revocation"
        return RevokedToken(
            token_id=self.id, tenant_id=self.tenant_id, expires_at=self.expires_at, revoked_at=self.revoked_at
        )


def expiry(now: datetime, *, expires_in_seconds: int | None, expires_at: datetime | None) -> datetime | None:
    """When a new token expires: at most one of the two is given; neither, it never expires."""
    if expires_in_seconds is not None and expires_at is not None:
        raise InvalidInput.field("expires_at", "give expires_in_seconds or expires_at, not both")
    if expires_in_seconds is not None:
        return now + timedelta(seconds=expires_in_seconds)
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise InvalidInput.field("expires_at", "needs a time zone (e.g. 2027-01-31T12:00:00Z)")
    if not now + MIN_LIFETIME <= expires_at <= now + MAX_LIFETIME:
        raise InvalidInput.field(
            "expires_at", f"must be between {MIN_LIFETIME} and {MAX_LIFETIME.days} days from now"
        )
    return expires_at
