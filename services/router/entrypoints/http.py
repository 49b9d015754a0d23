"""The router's HTTP API: a dry run of a campaign's routing."""

import math
from datetime import UTC, datetime
from uuid import UUID

from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel, Field

from services.router.app.dry_run import dry_run
from services.router.app.ports import RoomReader
from services.router.app.routing import Router
from services.router.settings import RouterSettings
from shared.auth import Principal, RevokedTokens, principal_dependency
from shared.contracts import Exclusion
from shared.errors import InvalidInput
from shared.http_errors import install_error_handlers
from shared.http_limits import install_body_limit


class DryRunRequest(BaseModel):
    messages: int = Field(ge=1, le=100_000_000, description="How many messages to simulate.")


class ServerShare(BaseModel):
    server_id: UUID
    weight: float
    expected_messages: int
    share: float
    limited: bool


class DryRunResult(BaseModel):
    campaign_id: UUID
    mode: str
    messages: int
    servers: list[ServerShare]
    excluded: list[Exclusion]
    seconds_to_send: float | None = Field(
        description="Time to send every message at the current caps; null when an eligible server has no "
        "limit (the caps do not bound it), -1 when the caps cannot send them all within a year."
    )


def create_http_api(
    settings: RouterSettings, router: Router, rooms: RoomReader, revoked_tokens: RevokedTokens
) -> FastAPI:
    """The API; `rooms` tells a dry run how much room each server's limits have left, and tenant
    tokens in `revoked_tokens` are refused."""
    api = FastAPI(title="sendpool router", version="1", description="Routing decisions you can preview.")
    api.state.revoked_tokens = revoked_tokens
    install_error_handlers(api)
    install_body_limit(api, settings.http_max_body_bytes)
    principal = principal_dependency(lambda _request: (settings.token_secret, settings.operator_token))

    @api.post("/campaigns/{campaign_id}/dry-run", response_model=DryRunResult, tags=["routing"])
    async def simulate(
        campaign_id: UUID,
        body: DryRunRequest,
        caller: Principal = Depends(principal),
        tenant_id: UUID | None = Query(None, description="The campaign's tenant; for the operator only."),
    ) -> DryRunResult:
        """Where N messages of the campaign would go now, and how long the current caps need to send them."""
        owner = tenant_id if caller.is_operator else caller.tenant_id
        if owner is None:
            raise InvalidInput.field(
                "tenant_id", "the operator must name the campaign's tenant", location="query"
            )
        await router.ready.wait()
        candidates, result = await dry_run(
            router, rooms, owner, campaign_id, body.messages, datetime.now(UTC)
        )
        seconds = result.seconds_to_send
        return DryRunResult(
            campaign_id=campaign_id,
            mode=candidates.mode,
            messages=body.messages,
            servers=[
                ServerShare(
                    server_id=s.server_id,
                    weight=s.weight,
                    expected_messages=s.messages,
                    share=round(s.share, 4),
                    limited=s.limited,
                )
                for s in result.servers
            ],
            excluded=candidates.excluded,
            seconds_to_send=-1 if seconds is not None and math.isinf(seconds) else seconds,
        )

    return api
