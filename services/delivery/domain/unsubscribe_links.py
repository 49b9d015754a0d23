"""The one-click unsubscribe link (RFC 8058) each message carries: sendpool's own endpoint on the
bounces service, with a token signed for the message's tenant, campaign, id and recipient."""

from dataclasses import dataclass

from shared.contracts import SendRequested
from shared.unsubscribe import UnsubscribeClaim, unsubscribe_url


@dataclass(frozen=True)
class UnsubscribeLinks:
    base_url: str
    """The bounces service's public URL (`SENDPOOL_DELIVERY_UNSUBSCRIBE_BASE_URL`)."""
    secret: str
    """The current `SENDPOOL_UNSUBSCRIBE_SECRET`: tokens are signed with it alone."""

    def url_for(self, send: SendRequested) -> str:
        claim = UnsubscribeClaim(send.tenant_id, send.campaign_id, send.message_id, send.recipient)
        return unsubscribe_url(self.base_url, claim, self.secret)
