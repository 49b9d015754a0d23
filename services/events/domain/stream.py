"""What a consumer of the public stream reads in the AsyncAPI document: the contract in words."""

from shared.events import EVENTS_SCHEMA_VERSION, details_table

_DETAIL_MEANINGS = {
    "run_id": "the campaign run (a resumed or relaunched campaign has several)",
    "decision": "why this server: `mode` (`use_all` or `selection`), the candidates' `weights`, and each server `excluded` with its reason",
    "reason": "why, in the platform's words",
    "retry_at": "when it is tried again (UTC)",
    "reply_code": "the server's SMTP reply code (or the vendor API's status)",
    "enhanced_code": "RFC 3463 enhanced status code",
    "reply_text": "the server's reply, or the feedback's diagnostic",
    "vendor_message_id": "the id the vendor gave the message",
    "feedback_class": "`hard` or `soft` (bounced), `complaint` (complained)",
    "send_at": "when the scheduled run starts (UTC)",
    "servers": "the servers excluded, each with why",
    "progress": "counts per state and per server, send rate, estimated completion",
}


def details_keys() -> str:
    """What each key of `details` means, as a Markdown list."""
    return "\n".join(f"- `{key}`: {meaning}" for key, meaning in _DETAIL_MEANINGS.items())


STREAM_DESCRIPTION = (
    f"The public status stream, version {EVENTS_SCHEMA_VERSION}: every event of every message and campaign, "
    "translated once from the platform's own `sendpool.status` and logged by the events service before it "
    "is published. Exchange `sendpool.events` (topic, durable); routing key `<tenant>.<campaign>.<type>` "
    "(`<tenant>.#`: one tenant's whole stream; `*.*.bounced`: every bounce). Bind a queue of your own. "
    "Each message is an `EventBatch` of one tenant, campaign and type (up to 1000 events, in the order they "
    "were decided; a campaign event travels alone). Delivery is at least once: every copy of one fact "
    "carries the same `event_id`, so drop the ids you have seen. Within version 1 new `details` keys and "
    "new types may appear: ignore what you do not know; a key whose value is not known is left out. "
    "A breaking change would be version 2, on its own exchange.\n\n"
    + details_table()
    + "\n\n"
    + details_keys()
)
