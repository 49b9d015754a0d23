"""Everything the router publishes, declared on its broker, so its AsyncAPI document lists them.

Each is published to with the target of the message at hand (the server's queue, the event's
routing key); the targets given here are what the document shows.
"""

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker
from faststream.rabbit.publisher import RabbitPublisher

from shared.contracts import CampaignEvent, DeliveryBatch
from shared.publishers import (
    back_to_routing_publisher,
    contract_publisher,
    status_events_publisher,
    waiting_publisher,
)
from shared.topology import STATUS_EXCHANGE

SERVICE = "router"


@dataclass(frozen=True)
class RouterPublishers:
    deliveries: RabbitPublisher
    status: RabbitPublisher
    campaign_events: RabbitPublisher
    """The outbox relay's: `campaign_stopped`, and the `held` status events recorded with stops and holds."""
    back_to_routing: RabbitPublisher
    delayed: RabbitPublisher


def declare_publishers(broker: RabbitBroker) -> RouterPublishers:
    return RouterPublishers(
        deliveries=contract_publisher(
            broker,
            SERVICE,
            "deliveries",
            DeliveryBatch,
            "A batch of recipients for one server: messages of one campaign run routed to it together, "
            "with the reason (`decision`). Each recipient is sent, retried and reported on its own.",
            queue="delivery.<vendor>.<server_id>",
        ),
        status=status_events_publisher(broker, SERVICE),
        campaign_events=contract_publisher(
            broker,
            SERVICE,
            "campaign events",
            CampaignEvent,
            "`campaign_stopped` (naming each selected server and why it is ineligible) when no "
            "selected server can send; from the router's transactional outbox, with the stop, at least once. "
            "Routing key `<tenant>.<campaign>.<kind>`.",
            exchange=STATUS_EXCHANGE,
            routing_key="<tenant>.<campaign>.<kind>",
        ),
        back_to_routing=back_to_routing_publisher(broker, SERVICE),
        delayed=waiting_publisher(broker, SERVICE),
    )
