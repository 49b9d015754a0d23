"""One-click unsubscribe (RFC 8058): a recipient's link, POSTed, suppresses the recipient for the tenant.

The link is `List-Unsubscribe: <…/unsubscribe/<token>>` in every message (written by the delivery
workers, `shared.unsubscribe`). The token is the only credential: it names the tenant, campaign,
message and recipient and is signed, so it can unsubscribe that recipient from that tenant's mail
and nothing else. Unsubscribing again changes nothing (the suppression is permanent already).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from services.bounces.app.ports import SuppressionStore
from services.bounces.domain.actions import Suppression, SuppressionSource
from services.bounces.domain.suppressions import suppression_key
from shared.errors import NotFound
from shared.unsubscribe import UnsubscribeClaim, verify_unsubscribe_token

log = structlog.get_logger("bounces.unsubscribe")

INVALID_LINK = "this unsubscribe link is not valid"
"""The whole answer to a bad token: why it is bad (garbled, forged, retired key) is nobody's business."""


@dataclass(frozen=True)
class Unsubscribed:
    claim: UnsubscribeClaim
    changed: bool
    """False when the address was already suppressed for the tenant at least as strongly."""


class OneClickUnsubscribe:
    def __init__(self, store: SuppressionStore, secrets: Sequence[str]) -> None:
        self._store = store
        self._secrets = list(secrets)

    def claim(self, token: str) -> UnsubscribeClaim:
        """What a valid token says; `NotFound` for any other (a 404 that says nothing more)."""
        claim = verify_unsubscribe_token(token, self._secrets)
        if claim is None:
            raise NotFound(INVALID_LINK)
        return claim

    async def unsubscribe(self, token: str) -> Unsubscribed:
        """Suppress the token's recipient for its tenant (source `unsubscribe`, permanent), audited."""
        claim = self.claim(token)
        suppression = Suppression(
            claim.tenant_id,
            suppression_key(claim.recipient),
            f"one-click unsubscribe (campaign {claim.campaign_id}, message {claim.message_id})",
            SuppressionSource.UNSUBSCRIBE,
        )
        changed = await self._store.add([suppression], actor=f"unsubscribe:{claim.message_id}")
        log.info(
            "recipient unsubscribed",
            tenant_id=str(claim.tenant_id),
            campaign_id=str(claim.campaign_id),
            message_id=str(claim.message_id),
            changed=bool(changed),
        )
        return Unsubscribed(claim, bool(changed))
