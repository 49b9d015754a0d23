"""Everything the router publishes, declared on its broker, so its AsyncAPI document lists them.

Each is published to with the target of the message at hand (the server's queue, the event's
routing key); the targets given here are what the document shows.
"""

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.publisher import RabbitPublisher
from pydantic import BaseModel

from shared.contracts import CampaignEvent, DeliveryRequested, SendRequested, StatusEvent
from shared.topology import DELAY_STEPS_SECONDS, SEND_EXCHANGE, SEND_ROUTING_KEY, STATUS_EXCHANGE


@dataclass(frozen=True)
class RouterPublishers:
    deliveries: RabbitPublisher
    status: RabbitPublisher
    campaign_events: RabbitPublisher
    """The outbox relay's: `campaign_stopped`, and the `held` status events recorded with stops and holds."""
    back_to_routing: RabbitPublisher
    delayed: RabbitPublisher


def _publisher(
    broker: RabbitBroker,
    title: str,
    schema: type[BaseModel],
    description: str,
    *,
    queue: str = "",
    exchange: RabbitExchange | None = None,
    routing_key: str = "",
) -> RabbitPublisher:
    # Every message is a contract in JSON, and survives a broker restart.
    return broker.publisher(
        RabbitQueue(queue) if queue else "",
        exchange,
        routing_key=routing_key,
        title=f"router: {title}",
        description=description,
        schema=schema,
        content_type="application/json",
        persist=True,
    )


def declare_publishers(broker: RabbitBroker) -> RouterPublishers:
    return RouterPublishers(
        deliveries=_publisher(
            broker,
            "deliveries",
            DeliveryRequested,
            "A message and the server chosen for it, with the reason (`decision`).",
            queue="delivery.<vendor>.<server_id>",
        ),
        status=_publisher(
            broker,
            "status events",
            StatusEvent,
            "Per message: `routed`, `held`, `waiting` (router; every eligible server is at its "
            "cap, `retry_at` says when it is routed again); `sent`, `deferred`, `failed`, `unknown` "
            "(delivery). Routing key `<tenant>.<campaign>.<status>`; bind a queue of your own to follow a "
            "tenant or a campaign.",
            exchange=STATUS_EXCHANGE,
            routing_key="<tenant>.<campaign>.<status>",
        ),
        campaign_events=_publisher(
            broker,
            "campaign events",
            CampaignEvent,
            "`campaign_stopped` (naming each selected server and why it is ineligible) when no "
            "selected server can send; from the router's transactional outbox, with the stop, at least once. "
            "Routing key `<tenant>.<campaign>.<kind>`.",
            exchange=STATUS_EXCHANGE,
            routing_key="<tenant>.<campaign>.<kind>",
        ),
        back_to_routing=_publisher(
            broker,
            "back to routing",
            SendRequested,
            "A message handed back unsent (its server cannot send) or to be retried: routed "
            "again among its campaign's servers, avoiding `avoid_server_ids`.",
            exchange=SEND_EXCHANGE,
            routing_key=SEND_ROUTING_KEY,
        ),
        delayed=_publisher(
            broker,
            "waiting",
            SendRequested,
            "A message that waits (every eligible server capped, or a retry's backoff) in the "
            "delay queue of the step that ends nearest its time "
            f"({', '.join(f'{s}s' for s in DELAY_STEPS_SECONDS)}); the quorum queue dead-letters it back "
            "to routing, at least once.",
            queue="sendpool.wait.<seconds>s",
        ),
    )
