"""Everything a delivery worker publishes, declared as FastStream publishers: the AsyncAPI
document of the service is made from these, so what it says cannot drift from what is sent."""

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker
from faststream.rabbit.publisher import RabbitPublisher

from shared.contracts import ServerHealthEvent
from shared.publishers import (
    back_to_routing_publisher,
    contract_publisher,
    status_events_publisher,
    waiting_publisher,
)
from shared.topology import HEALTH_EXCHANGE

SERVICE = "delivery"


@dataclass(frozen=True)
class DeliveryPublishers:
    status: RabbitPublisher
    health: RabbitPublisher
    back_to_routing: RabbitPublisher
    delayed: RabbitPublisher
    """Addressed to `sendpool.wait.<seconds>s`: each publish names the delay queue it waits in."""


def declare_publishers(broker: RabbitBroker) -> DeliveryPublishers:
    return DeliveryPublishers(
        status=status_events_publisher(broker, SERVICE),
        health=contract_publisher(
            broker,
            SERVICE,
            "server health",
            ServerHealthEvent,
            "A server's circuit breaker opened (repeated connection failures) or closed again.",
            exchange=HEALTH_EXCHANGE,
            routing_key="server.<server_id>",
            # Health is news for whoever listens (each router replica binds a queue of its own);
            # with no router running there is nobody to tell, which is no error.
            mandatory=False,
        ),
        back_to_routing=back_to_routing_publisher(broker, SERVICE),
        delayed=waiting_publisher(broker, SERVICE),
    )
