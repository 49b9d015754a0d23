"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp` and `webhook-signature` headers.

`webhook-signature` holds one `v1,<base64 HMAC-SHA256>` per secret, space-separated: the current
secret's, and during a rotation's grace period the previous one's too, so a receiver that still
verifies with the old secret keeps accepting requests until it switches.
"""

from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook


def signed_headers(
    webhook_id: str, timestamp: datetime, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """The headers of one request, signed with every secret in `secrets` (the current one first)."""
    if not secrets:
        raise ValueError("at least one secret signs a request")
    signatures = " ".join(Webhook(secret).sign(webhook_id, timestamp, body) for secret in secrets)
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
        "user-agent": "sendpool-webhooks/1",
    }
