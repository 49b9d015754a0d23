"""Everything a delivery worker publishes, declared as FastStream publishers: the AsyncAPI
document of the service is made from these, so what it says cannot drift from what is sent."""

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.publisher import RabbitPublisher

from shared.contracts import SendRequested, ServerHealthEvent, StatusEvent
from shared.topology import (
    DELAY_STEPS_SECONDS,
    HEALTH_EXCHANGE,
    SEND_EXCHANGE,
    SEND_ROUTING_KEY,
    STATUS_EXCHANGE,
)


@dataclass(frozen=True)
class DeliveryPublishers:
    status: RabbitPublisher
    health: RabbitPublisher
    back_to_routing: RabbitPublisher
    delayed: RabbitPublisher
    """Addressed to `sendpool.wait.<seconds>s`: each publish names the delay queue it waits in."""


def declare_publishers(broker: RabbitBroker) -> DeliveryPublishers:
    return DeliveryPublishers(
        status=broker.publisher(
            exchange=STATUS_EXCHANGE,
            routing_key="<tenant>.<campaign>.<status>",
            title="delivery: status events",
            description="Per message: `routed`, `held`, `waiting` (router; every eligible server is at its "
            "cap, `retry_at` says when it is routed again); `sent`, `deferred`, `failed`, `unknown` "
            "(delivery). Routing key `<tenant>.<campaign>.<status>`; bind a queue of your own to follow a "
            "tenant or a campaign.",
            schema=StatusEvent,
        ),
        health=broker.publisher(
            exchange=HEALTH_EXCHANGE,
            routing_key="server.<server_id>",
            title="delivery: server health",
            description="A server's circuit breaker opened (repeated connection failures) or closed again.",
            schema=ServerHealthEvent,
        ),
        back_to_routing=broker.publisher(
            exchange=SEND_EXCHANGE,
            routing_key=SEND_ROUTING_KEY,
            title="delivery: back to routing",
            description="A message handed back unsent (its server cannot send) or to be retried: routed "
            "again among its campaign's servers, avoiding `avoid_server_ids`.",
            schema=SendRequested,
        ),
        delayed=broker.publisher(
            RabbitQueue("sendpool.wait.<seconds>s"),
            title="delivery: waiting",
            description="A message that waits (every eligible server capped, or a retry's backoff) in the "
            "delay queue of the step that ends nearest its time "
            f"({', '.join(f'{s}s' for s in DELAY_STEPS_SECONDS)}); the quorum queue dead-letters it back "
            "to routing, at least once.",
            schema=SendRequested,
        ),
    )
