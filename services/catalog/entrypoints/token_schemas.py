"""The bodies of the token endpoints: a token's record is shown, the token itself only when issued."""

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from services.catalog.domain.tokens import MAX_LIFETIME, MIN_LIFETIME, TokenRecord
from shared.auth import MAX_TOKEN_LENGTH


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field("", max_length=100, description="What the token is for, to tell it apart in listings.")
    expires_in_seconds: int | None = Field(
        None,
        ge=int(MIN_LIFETIME.total_seconds()),
        le=int(MAX_LIFETIME.total_seconds()),
        description="The token stops working this many seconds from now; give this or `expires_at`.",
    )
    expires_at: datetime | None = Field(
        None, description="The token stops working at this time (with a time zone); neither: never."
    )


class TokenInfo(BaseModel):
    id: str = Field(description="The token's id: the part of the token after the tenant's id.")
    tenant_id: str
    label: str
    created_at: datetime | None = Field(description="None: issued before tokens were recorded.")
    expires_at: datetime | None = Field(description="None: it never expires.")
    revoked_at: datetime | None
    revoked_by: str | None = Field(description="`operator`, or `tenant <id>`.")

    @classmethod
    def of(cls, record: TokenRecord) -> Self:
        return cls(
            id=record.id,
            tenant_id=str(record.tenant_id),
            label=record.label,
            created_at=record.created_at,
            expires_at=record.expires_at,
            revoked_at=record.revoked_at,
            revoked_by=record.revoked_by,
        )


class TokenIssued(TokenInfo):
    token: str = Field(description="The API token. It is shown this once; keep it.")


class PresentedToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(max_length=MAX_TOKEN_LENGTH, description="The whole token to revoke.")
