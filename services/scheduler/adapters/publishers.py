"""Everything the scheduler publishes, declared once, so that the AsyncAPI document is generated from it."""

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker
from faststream.rabbit.publisher import RabbitPublisher

from shared.contracts import CampaignEvent, SendRequested
from shared.topology import SEND_EXCHANGE, SEND_ROUTING_KEY, STATUS_EXCHANGE


@dataclass(frozen=True)
class SchedulerPublishers:
    send_requests: RabbitPublisher
    campaign_events: RabbitPublisher
    """Published by the outbox relay (`shared.outbox`), each with its own routing key."""


def declare_publishers(broker: RabbitBroker) -> SchedulerPublishers:
    return SchedulerPublishers(
        send_requests=broker.publisher(
            exchange=SEND_EXCHANGE,
            routing_key=SEND_ROUTING_KEY,
            title="scheduler: send requests",
            description="One per recipient of a launched campaign run.",
            schema=SendRequested,
        ),
        campaign_events=broker.publisher(
            exchange=STATUS_EXCHANGE,
            routing_key="<tenant>.<campaign>.<kind>",
            title="scheduler: campaign events",
            description=(
                "`campaign_resumed` after a resume, `campaign_completed` once every message of a run is final; "
                "from the scheduler's transactional outbox, at least once. Routing key `<tenant>.<campaign>.<kind>`."
            ),
            schema=CampaignEvent,
        ),
    )
