"""The scheduler's subscriber on sendpool.status: message statuses and campaign decisions."""

from typing import Annotated, Any

from faststream.rabbit import RabbitBroker
from pydantic import Discriminator, Tag

from services.scheduler.app.campaigns import Campaigns
from services.scheduler.app.statuses import StatusFolding
from shared.contracts import CampaignEvent, StatusEvent
from shared.topology import STATUS_EXCHANGE, status_queue


def _event_kind(body: Any) -> str | None:
    # Both travel on the same exchange; a campaign decision is the one with a `kind`.
    if isinstance(body, dict):
        return "campaign" if "kind" in body else "message"
    if isinstance(body, CampaignEvent | StatusEvent):
        return "campaign" if isinstance(body, CampaignEvent) else "message"
    return None


StatusBody = Annotated[
    Annotated[StatusEvent, Tag("message")] | Annotated[CampaignEvent, Tag("campaign")],
    Discriminator(_event_kind),
]


def register_subscribers(broker: RabbitBroker, statuses: StatusFolding, campaigns: Campaigns) -> None:
    @broker.subscriber(status_queue("scheduler"), STATUS_EXCHANGE, title="scheduler.status")
    async def on_status(event: StatusBody) -> None:
        if isinstance(event, CampaignEvent):
            await campaigns.apply_event(event)
        else:
            await statuses.record(event)
