"""From what `sendpool.status` carries to the public envelopes (`shared.events.Event`)."""

from shared.contracts import CampaignEvent, StatusBatch, StatusEvent, status_events_of
from shared.events import Event, event_of_campaign, event_of_status


def events_of(body: StatusBatch | StatusEvent | CampaignEvent) -> list[Event]:
    """The public events of one delivery of `sendpool.status`, in the order they were decided."""
    if isinstance(body, CampaignEvent):
        return [event_of_campaign(body)]
    return [event_of_status(status) for status in status_events_of(body)]


def search_address(recipient: str | None) -> str | None:
    """How a recipient is kept for searching: addresses are compared without case (as people type them)."""
    return None if recipient is None else recipient.strip().lower()
